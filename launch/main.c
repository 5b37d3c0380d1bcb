/* launch/main.c - the `axon` command.
 *
 * One binary with subcommands: train, eval, predict, data, ckpt and launch
 * (which runs this same binary's train under mpirun and restarts it after
 * failures). Exit codes: 0 success, 1 failure, 2 usage error; train and
 * launch add 75 for a job stopped by a signal after a checkpoint, and train
 * 3 for a rank ended by its watchdog. */
#include <stdio.h>
#include <string.h>

#include "axon/axon.h"
#include "run.h"

int cmd_data(int argc, char **argv); /* cmd_data.c */
int cmd_ckpt(int argc, char **argv); /* cmd_ckpt.c */
int cmd_launch(int argc, char **argv); /* supervisor.c */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: axon [--version] [--help] <command> [args]\n"
		"\n"
		"axon trains neural networks in C, data-parallel over MPI ranks,\n"
		"from HDF5 datasets, with verified checkpoints.\n"
		"\n"
		"options:\n"
		"  --version    print the version and how this axon was built\n"
		"  --help       print this help\n"
		"\n"
		"commands:\n"
		"  train        train a model from a config file (docs/config.md)\n"
		"  eval         evaluate saved weights on a dataset\n"
		"  predict      write predictions for a dataset\n"
		"  data         convert sources (IDX, CSV, .npy) into HDF5 datasets and\n"
		"               inspect them ('axon data --help')\n"
		"  ckpt         inspect and verify checkpoints ('axon ckpt --help')\n"
		"  launch       run train under mpirun on N ranks and restart it from its\n"
		"               newest checkpoint after failures ('axon launch --help')\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("axon %s (%s)\n", ax_version(), ax_build_info());
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "data") == 0)
		return cmd_data(argc - 1, argv + 1);
	if (strcmp(argv[1], "ckpt") == 0)
		return cmd_ckpt(argc - 1, argv + 1);
	if (strcmp(argv[1], "launch") == 0)
		return cmd_launch(argc - 1, argv + 1);
	if (strcmp(argv[1], "train") == 0)
		return ax_cmd_train(argc - 1, argv + 1);
	if (strcmp(argv[1], "eval") == 0)
		return ax_cmd_eval(argc - 1, argv + 1);
	if (strcmp(argv[1], "predict") == 0)
		return ax_cmd_predict(argc - 1, argv + 1);
	fprintf(stderr, "axon: unknown command '%s'; this build knows train, eval, predict, data, "
		"ckpt, launch, --version and --help (run 'axon --help')\n", argv[1]);
	return 2;
}
