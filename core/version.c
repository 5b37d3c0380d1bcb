/* version.c - the version and build description compiled into the library. */
#include "axon/version.h"

#ifndef AXON_BUILD_INFO
#define AXON_BUILD_INFO "unknown build"
#endif

const char *ax_version(void)
{
	return AXON_VERSION_STRING;
}

const char *ax_build_info(void)
{
	return AXON_BUILD_INFO;
}
