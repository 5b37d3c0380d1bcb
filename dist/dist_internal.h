/* dist_internal.h - what the dist/ files share. */
#ifndef AXON_DIST_INTERNAL_H
#define AXON_DIST_INTERNAL_H

#include <mpi.h>

#include "axon/dist.h"

struct ax_dist {
	int rank, world, local_rank, local_world;
	int we_initialized;
	MPI_Comm local;
};

/* An MPI return code as an axon status ("dist: WHAT failed: MPI's text"). */
enum ax_status ax_dist_mpi_status(int code, const char *what);

#endif
