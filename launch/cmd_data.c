/* cmd_data.c - `axon data`: convert sources into datasets, inspect datasets.
 *
 * A thin layer over axon/data_convert.h: parse the command line with
 * getopt_long into a struct ax_convert_options, call the library, and turn
 * the outcome into an exit code - 0 success, 1 a failure (the library's
 * message, which names the file), 2 a usage error (what was wrong and the
 * usage line). Options are parsed in order ("+": no permutation), so that
 * `--fashion-mnist [DIR]` can take its directory as the next word. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon/axon.h"
#include "axon/data_convert.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

int cmd_data(int argc, char **argv);

static void usage_data(FILE *out)
{
	fprintf(out,
		"usage: axon data convert --format idx --train-inputs F --train-targets F\n"
		"                         [--test-inputs F --test-targets F] --out DIR [options]\n"
		"       axon data convert --format npy --train-inputs X.npy --train-targets Y.npy\n"
		"                         [--test-inputs X.npy --test-targets Y.npy] --out DIR [options]\n"
		"       axon data convert --format csv --train FILE [--test FILE] --out DIR\n"
		"                         [--header] [--label-column N|NAME] [--regression] [options]\n"
		"       axon data convert --fashion-mnist [DIR] --out DIR [options]\n"
		"       axon data inspect DIR\n"
		"\n"
		"convert writes DIR/train, DIR/val (with --val-fraction) and DIR/test (with a test\n"
		"source): HDF5 shards and a manifest.json each (docs/data-format.md). Normalisation\n"
		"statistics come from the training part only.\n"
		"\n"
		"options:\n"
		"  --shards S            shards per split (default 1)\n"
		"  --val-fraction F      this part of the training source, drawn at random, becomes\n"
		"                        the validation split (0 <= F < 1, default 0)\n"
		"  --seed N              seed of that draw (default 0)\n"
		"  --compression L       deflate level 0-9 (default 0: none)\n"
		"  --chunk-rows R        rows per HDF5 chunk (default: a power of two, chunks of at\n"
		"                        most %d KiB; 256 rows for 28x28 uint8 images)\n"
		"  --num-classes K       number of classes (default: 1 + the largest label)\n"
		"  --regression          float targets instead of class labels (csv, npy)\n"
		"  --header              csv: the first row names the columns\n"
		"  --label-column N|NAME csv: the label column, 0-based, negative from the end,\n"
		"                        or its header name (default -1: the last)\n"
		"  --no-checksum         leave out the per-chunk Fletcher-32 checksums\n"
		"  --overwrite           replace a dataset already in the output directory\n"
		"  --quiet               print nothing but errors\n"
		"\n"
		"--fashion-mnist reads the four IDX files of the Debian package dataset-fashion-mnist\n"
		"from DIR (default " FASHION_MNIST_DIR ").\n"
		"inspect prints the schema, shards, class histogram and input statistics after\n"
		"reading every value; it exits 1 on any inconsistency.\n",
		AX_DATA_CHUNK_TARGET_BYTES / 1024);
}

static int usage_error(const char *fmt, const char *detail)
{
	fprintf(stderr, "axon data: ");
	fprintf(stderr, fmt, detail);
	fprintf(stderr, "\n(run 'axon data --help' for the usage)\n");
	return 2;
}

static int parse_long(const char *text, long long low, long long high, long long *value)
{
	char *end;

	errno = 0;
	*value = strtoll(text, &end, 10);
	return errno == 0 && end != text && *end == '\0' && *value >= low && *value <= high;
}

static int parse_format(const char *text, enum ax_convert_format *format)
{
	if (strcmp(text, "idx") == 0)
		*format = AX_CONVERT_IDX;
	else if (strcmp(text, "csv") == 0)
		*format = AX_CONVERT_CSV;
	else if (strcmp(text, "npy") == 0)
		*format = AX_CONVERT_NPY;
	else
		return 0;
	return 1;
}

enum {
	OPT_FORMAT = 256, OPT_TRAIN_INPUTS, OPT_TRAIN_TARGETS, OPT_TEST_INPUTS, OPT_TEST_TARGETS,
	OPT_TRAIN, OPT_TEST, OPT_OUT, OPT_SHARDS, OPT_VAL_FRACTION, OPT_SEED, OPT_COMPRESSION,
	OPT_CHUNK_ROWS, OPT_NUM_CLASSES, OPT_REGRESSION, OPT_HEADER, OPT_LABEL_COLUMN,
	OPT_NO_CHECKSUM, OPT_OVERWRITE, OPT_QUIET, OPT_FASHION_MNIST, OPT_HELP
};

static const struct option convert_options[] = {
	{"format", required_argument, NULL, OPT_FORMAT},
	{"train-inputs", required_argument, NULL, OPT_TRAIN_INPUTS},
	{"train-targets", required_argument, NULL, OPT_TRAIN_TARGETS},
	{"test-inputs", required_argument, NULL, OPT_TEST_INPUTS},
	{"test-targets", required_argument, NULL, OPT_TEST_TARGETS},
	{"train", required_argument, NULL, OPT_TRAIN},
	{"test", required_argument, NULL, OPT_TEST},
	{"out", required_argument, NULL, OPT_OUT},
	{"shards", required_argument, NULL, OPT_SHARDS},
	{"val-fraction", required_argument, NULL, OPT_VAL_FRACTION},
	{"seed", required_argument, NULL, OPT_SEED},
	{"compression", required_argument, NULL, OPT_COMPRESSION},
	{"chunk-rows", required_argument, NULL, OPT_CHUNK_ROWS},
	{"num-classes", required_argument, NULL, OPT_NUM_CLASSES},
	{"regression", no_argument, NULL, OPT_REGRESSION},
	{"header", no_argument, NULL, OPT_HEADER},
	{"label-column", required_argument, NULL, OPT_LABEL_COLUMN},
	{"no-checksum", no_argument, NULL, OPT_NO_CHECKSUM},
	{"overwrite", no_argument, NULL, OPT_OVERWRITE},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"fashion-mnist", optional_argument, NULL, OPT_FASHION_MNIST},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

struct convert_command {
	struct ax_convert_options options;
	int have_format, quiet;
	const char *fashion_dir; /* non-NULL: --fashion-mnist given */
	char paths[4][4096];     /* the four Fashion-MNIST file names */
};

/* Apply one option; returns 0, or 2 for a usage error (already printed). */
static int apply_option(struct convert_command *cmd, int option, const char *arg, int argc,
			char **argv)
{
	struct ax_convert_options *o = &cmd->options;
	long long number;
	char *end;

	switch (option) {
	case OPT_FORMAT:
		if (!parse_format(arg, &o->format))
			return usage_error("unknown --format '%s'; use idx, csv or npy", arg);
		cmd->have_format = 1;
		return 0;
	case OPT_TRAIN_INPUTS: case OPT_TRAIN: o->train_inputs = arg; return 0;
	case OPT_TRAIN_TARGETS: o->train_targets = arg; return 0;
	case OPT_TEST_INPUTS: case OPT_TEST: o->test_inputs = arg; return 0;
	case OPT_TEST_TARGETS: o->test_targets = arg; return 0;
	case OPT_OUT: o->out_dir = arg; return 0;
	case OPT_SHARDS:
		if (!parse_long(arg, 1, AX_DATA_MAX_SHARDS, &number))
			return usage_error("--shards '%s' is not a whole number from 1 to 99999", arg);
		o->shards = (int)number;
		return 0;
	case OPT_VAL_FRACTION:
		errno = 0;
		o->val_fraction = strtod(arg, &end);
		if (errno || end == arg || *end || !(o->val_fraction >= 0 && o->val_fraction < 1))
			return usage_error("--val-fraction '%s' is not a number in [0, 1)", arg);
		return 0;
	case OPT_SEED:
		if (!parse_long(arg, 0, 0x7fffffffffffffffLL, &number))
			return usage_error("--seed '%s' is not a non-negative whole number", arg);
		o->seed = (uint64_t)number;
		return 0;
	case OPT_COMPRESSION:
		if (!parse_long(arg, 0, 9, &number))
			return usage_error("--compression '%s' is not a level from 0 to 9", arg);
		o->compression = (int)number;
		return 0;
	case OPT_CHUNK_ROWS:
		if (!parse_long(arg, 1, 1LL << 30, &number))
			return usage_error("--chunk-rows '%s' is not a positive whole number", arg);
		o->chunk_rows = number;
		return 0;
	case OPT_NUM_CLASSES:
		if (!parse_long(arg, 1, 1LL << 30, &number))
			return usage_error("--num-classes '%s' is not a positive whole number", arg);
		o->num_classes = (int)number;
		return 0;
	case OPT_REGRESSION: o->regression = 1; return 0;
	case OPT_HEADER: o->csv_header = 1; return 0;
	case OPT_LABEL_COLUMN:
		if (parse_long(arg, -(1LL << 30), 1LL << 30, &number)) {
			o->csv_label_column = (int)number;
			o->csv_label_name = NULL;
		} else {
			o->csv_label_name = arg;
		}
		return 0;
	case OPT_NO_CHECKSUM: o->checksum = 0; return 0;
	case OPT_OVERWRITE: o->overwrite = 1; return 0;
	case OPT_QUIET: cmd->quiet = 1; return 0;
	case OPT_FASHION_MNIST:
		/* "--fashion-mnist DIR" as well as "--fashion-mnist=DIR". */
		if (!arg && optind < argc && argv[optind][0] != '-')
			arg = argv[optind++];
		cmd->fashion_dir = arg ? arg : FASHION_MNIST_DIR;
		return 0;
	}
	return usage_error("%s", "unknown option");
}

static int fill_fashion_mnist(struct convert_command *cmd)
{
	static const char *const names[4] = {
		"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
		"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
	struct ax_convert_options *o = &cmd->options;

	if (cmd->have_format || o->train_inputs || o->train_targets || o->test_inputs ||
	    o->test_targets)
		return usage_error("%s", "--fashion-mnist chooses the format and the source files; "
				   "give no --format, --train-* or --test-* with it");
	for (int i = 0; i < 4; i++) {
		int n = snprintf(cmd->paths[i], sizeof(cmd->paths[i]), "%s/%s", cmd->fashion_dir,
				 names[i]);

		if (n < 0 || n >= (int)sizeof(cmd->paths[i]))
			return usage_error("--fashion-mnist directory '%s' is too long", cmd->fashion_dir);
	}
	o->format = AX_CONVERT_IDX;
	o->train_inputs = cmd->paths[0];
	o->train_targets = cmd->paths[1];
	o->test_inputs = cmd->paths[2];
	o->test_targets = cmd->paths[3];
	return 0;
}

static int data_convert(int argc, char **argv)
{
	struct convert_command *cmd = calloc(1, sizeof(*cmd));
	struct ax_convert_options *o;
	int option, code = 0;

	if (!cmd) {
		fprintf(stderr, "axon data convert: out of memory\n");
		return 1;
	}
	o = &cmd->options;
	ax_convert_options_init(o);
	optind = 0; /* glibc: 0 restarts the scan from argv[1] */
	opterr = 0;
	while (!code && (option = getopt_long(argc, argv, "+h", convert_options, NULL)) != -1) {
		if (option == 'h' || option == OPT_HELP) {
			usage_data(stdout);
			free(cmd);
			return 0;
		}
		if (option == '?') {
			code = usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
			break;
		}
		code = apply_option(cmd, option, optarg, argc, argv);
	}
	if (!code && optind < argc)
		code = usage_error("unexpected argument '%s'", argv[optind]);
	if (!code && cmd->fashion_dir)
		code = fill_fashion_mnist(cmd);
	else if (!code && !cmd->have_format)
		code = usage_error("%s", "say which source format: --format idx|csv|npy (or "
				   "--fashion-mnist)");
	if (!code && !o->out_dir)
		code = usage_error("%s", "no output directory: give --out DIR");
	if (!code && !o->train_inputs)
		code = usage_error("%s", o->format == AX_CONVERT_CSV
						 ? "no training table: give --train FILE"
						 : "no training source: give --train-inputs F and "
						   "--train-targets F");
	if (!code && o->format != AX_CONVERT_CSV && !o->train_targets)
		code = usage_error("%s", "no training targets: give --train-targets F");
	if (!code && o->format != AX_CONVERT_CSV && !o->test_inputs != !o->test_targets)
		code = usage_error("%s", "a test source needs both --test-inputs and --test-targets");
	if (!code && o->format == AX_CONVERT_CSV && (o->train_targets || o->test_targets))
		code = usage_error("%s", "a CSV file holds its own labels: give --train FILE (and "
				   "--test FILE), no --*-targets");
	if (!code && cmd->fashion_dir && access(cmd->paths[0], R_OK) != 0) {
		fprintf(stderr, "axon data convert: no Fashion-MNIST in %s (%s cannot be read); "
			"install the Debian package dataset-fashion-mnist, or give the directory "
			"that holds the four IDX files: --fashion-mnist DIR\n", cmd->fashion_dir,
			cmd->paths[0]);
		code = 1;
	}
	if (!code && ax_data_convert(o, cmd->quiet ? NULL : stdout) != AX_OK) {
		fprintf(stderr, "axon data convert: %s\n", ax_last_error());
		code = 1;
	}
	free(cmd);
	return code;
}

static int data_inspect(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage_data(stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-')
		return usage_error("%s", "inspect takes exactly one dataset directory: axon data "
				   "inspect DIR");
	if (ax_data_inspect(argv[1], stdout) != AX_OK) {
		fflush(stdout);
		fprintf(stderr, "axon data inspect: %s\n", ax_last_error());
		return 1;
	}
	return 0;
}

/* argv[0] is "data". */
int cmd_data(int argc, char **argv)
{
	if (argc < 2) {
		usage_data(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage_data(stdout);
		return 0;
	}
	if (strcmp(argv[1], "convert") == 0)
		return data_convert(argc - 1, argv + 1);
	if (strcmp(argv[1], "inspect") == 0)
		return data_inspect(argc - 1, argv + 1);
	return usage_error("unknown subcommand '%s'; use convert or inspect", argv[1]);
}
