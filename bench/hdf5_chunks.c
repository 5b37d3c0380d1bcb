/* hdf5_chunks.c - what HDF5 chunk size should `axon data convert` choose?
 *
 * Writes the Fashion-MNIST training images (60000 x 28 x 28 uint8 with int32
 * labels; the real IDX file when installed, else synthetic images of the same
 * size) as one shard with axon's own writer (ax_data_write_split, Fletcher-32
 * checksums on, as convert writes them) for chunk rows 64, 256, 1024, 4096
 * and deflate off, level 1 and level 4, and measures for each:
 *   - the file size (checksum alone, with deflate 1 and 4, and with no
 *     filter at all, for the cost of the checksum);
 *   - the CPU time to write it;
 *   - the time to read the whole shard into memory, inputs and targets (what
 *     axon's loader does: it reads whole shards), median of 3;
 *   - the time to read 64 random rows (sorted, one hyperslab union, HDF5's
 *     default 1 MiB chunk cache: what an h5py user's f["inputs"][idx] does),
 *     median over many batches from one open file.
 * The files are read right after being written, so they come from the page
 * cache: the figures are HDF5 and zlib CPU cost, not disk speed, and they
 * are reported as process CPU time (robust when other jobs share the cores)
 * with the wall time next to it.
 *
 *   bench_hdf5_chunks [--dir DIR] [--synthetic]
 *
 * Prints the machine, the date and a Markdown table for bench/RESULTS.md.
 * Runs in well under a minute on the 2-core development machine. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "axon/axon.h"
#include "axon/data_convert.h"

#define FASHION_IMAGES "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
#define FASHION_LABELS "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"

enum { N = 60000, H = 28, W = 28, ROW = H * W, BATCH = 64 };

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of this process: the 2 vCPUs are shared with other jobs, and
 * HDF5 reads here are CPU-bound (page cache copies, inflate, checksums), so
 * CPU time is the figure that survives a busy machine; wall time is kept
 * next to it. */
static double cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *values, int n)
{
	qsort(values, (size_t)n, sizeof(double), compare_doubles);
	return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

static int compare_rows(const void *a, const void *b)
{
	hsize_t x = *(const hsize_t *)a, y = *(const hsize_t *)b;

	return (x > y) - (x < y);
}

static void die(const char *what)
{
	fprintf(stderr, "bench_hdf5_chunks: %s failed%s%s\n", what, ax_last_error()[0] ? ": " : "",
		ax_last_error());
	exit(1);
}

/* The real images and labels (skipping the 16- and 8-byte IDX headers), or
 * synthetic ones: smooth blobs on a zero background, compressible like
 * real photographs of clothing are. Returns 1 for real data. */
static int load_data(uint8_t *images, int32_t *labels, int synthetic)
{
	uint8_t header[16], *label_bytes = malloc(N);
	gzFile image_file = synthetic ? NULL : gzopen(FASHION_IMAGES, "rb");
	gzFile label_file = synthetic ? NULL : gzopen(FASHION_LABELS, "rb");
	int real = image_file && label_file && gzread(image_file, header, 16) == 16 &&
		   gzread(image_file, images, N * ROW) == N * ROW &&
		   gzread(label_file, header, 8) == 8 && gzread(label_file, label_bytes, N) == N;

	if (image_file)
		gzclose(image_file);
	if (label_file)
		gzclose(label_file);
	for (int i = 0; i < N; i++)
		labels[i] = real ? label_bytes[i] : i % 10;
	if (!real) {
		struct ax_rng rng;
		uint32_t words[4];

		ax_rng_init(&rng, 1);
		for (int i = 0; i < N; i++) {
			ax_rng_u32(&rng, words, 4);
			for (int y = 0; y < H; y++)
				for (int x = 0; x < W; x++) {
					double dy = (y - 14.0) / (4 + words[0] % 8), dx = (x - 14.0) / (4 + words[1] % 8);
					double v = 255.0 * exp(-(dx * dx + dy * dy)) * (0.5 + (words[2] % 128) / 255.0);

					images[i * ROW + y * W + x] = (uint8_t)(v > 8 ? v + (words[3] >> (x % 24)) % 7 : 0);
				}
		}
	}
	free(label_bytes);
	return real;
}

static void print_machine(const char *dir, int real)
{
	char model[256] = "unknown CPU", line[512], date[64];
	unsigned major, minor, release;
	FILE *cpuinfo = fopen("/proc/cpuinfo", "r");
	struct utsname host;
	time_t t = time(NULL);

	while (cpuinfo && fgets(line, sizeof(line), cpuinfo))
		if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	if (cpuinfo)
		fclose(cpuinfo);
	uname(&host);
	H5get_libversion(&major, &minor, &release);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M", localtime(&t));
	printf("date: %s\nmachine: %s, %ld CPUs, %s %s\n", date, model,
	       sysconf(_SC_NPROCESSORS_ONLN), host.sysname, host.release);
	printf("HDF5 %u.%u.%u, zlib %s, files in %s (page cache warm)\n", major, minor, release,
	       zlibVersion(), dir);
	printf("data: %d x %d x %d uint8 + int32 labels, %s\n\n", N, H, W,
	       real ? "Fashion-MNIST train-images-idx3-ubyte.gz" : "synthetic images");
}

/* Read the whole shard, inputs and targets, as the loader does. */
static double read_whole(const char *path, uint8_t *images, int32_t *labels, double *wall)
{
	double start = now(), cpu_start = cpu_now();
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file, inputs, targets;

	H5Pset_file_locking(fapl, 0, 1);
	file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
	inputs = H5Dopen2(file, "inputs", H5P_DEFAULT);
	targets = H5Dopen2(file, "targets", H5P_DEFAULT);
	if (file < 0 || inputs < 0 || targets < 0 ||
	    H5Dread(inputs, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, images) < 0 ||
	    H5Dread(targets, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) < 0)
		die("reading a whole shard");
	H5Dclose(inputs);
	H5Dclose(targets);
	H5Fclose(file);
	H5Pclose(fapl);
	*wall = now() - start;
	return cpu_now() - cpu_start;
}

/* Read random batches of 64 rows for about `budget_seconds` (at least 3);
 * the median seconds per batch. */
static double read_random(const char *path, struct ax_rng *rng, double budget_seconds,
			  double *wall)
{
	static double times[400], wall_times[400];
	uint8_t batch_images[BATCH * ROW];
	int32_t batch_labels[BATCH];
	hsize_t rows[BATCH], one[3] = {1, H, W}, start[3] = {0, 0, 0};
	hsize_t memory_dims[3] = {BATCH, H, W}, label_dims[1] = {BATCH};
	hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	hid_t inputs = H5Dopen2(file, "inputs", H5P_DEFAULT);
	hid_t targets = H5Dopen2(file, "targets", H5P_DEFAULT);
	hid_t input_space = H5Dget_space(inputs), target_space = H5Dget_space(targets);
	hid_t input_memory = H5Screate_simple(3, memory_dims, NULL);
	hid_t target_memory = H5Screate_simple(1, label_dims, NULL);
	double began = now();
	int n = 0;

	if (file < 0 || inputs < 0 || targets < 0)
		die("opening a shard");
	while (n < 400 && (n < 3 || now() - began < budget_seconds)) {
		double t0, cpu0;
		uint32_t words[BATCH];
		int distinct = 0;

		/* 64 distinct random rows, sorted as h5py requires */
		while (distinct < BATCH) {
			ax_rng_u32(rng, words, BATCH);
			for (int i = 0; i < BATCH && distinct < BATCH; i++) {
				hsize_t row = words[i] % N;
				int seen = 0;

				for (int j = 0; j < distinct; j++)
					seen |= rows[j] == row;
				if (!seen)
					rows[distinct++] = row;
			}
		}
		qsort(rows, BATCH, sizeof(hsize_t), compare_rows);
		t0 = now();
		cpu0 = cpu_now();
		H5Sselect_none(input_space);
		H5Sselect_none(target_space);
		for (int i = 0; i < BATCH; i++) {
			start[0] = rows[i];
			H5Sselect_hyperslab(input_space, H5S_SELECT_OR, start, NULL, one, NULL);
			H5Sselect_hyperslab(target_space, H5S_SELECT_OR, start, NULL, one, NULL);
		}
		if (H5Dread(inputs, H5T_NATIVE_UINT8, input_memory, input_space, H5P_DEFAULT,
			    batch_images) < 0 ||
		    H5Dread(targets, H5T_NATIVE_INT32, target_memory, target_space, H5P_DEFAULT,
			    batch_labels) < 0)
			die("reading random rows");
		times[n] = cpu_now() - cpu0;
		wall_times[n++] = now() - t0;
	}
	H5Sclose(input_memory);
	H5Sclose(target_memory);
	H5Sclose(input_space);
	H5Sclose(target_space);
	H5Dclose(inputs);
	H5Dclose(targets);
	H5Fclose(file);
	*wall = median(wall_times, n);
	return median(times, n);
}

enum { LEVELS = 4, CHUNKS = 4, CONFIGS = LEVELS * CHUNKS, ROUNDS = 3, WHOLE_PER_ROUND = 2 };

/* What one configuration measured, over all rounds. */
struct result {
	char path[900];
	double file_mb, write_seconds;
	double whole[ROUNDS * WHOLE_PER_ROUND], whole_wall[ROUNDS * WHOLE_PER_ROUND];
	double random[ROUNDS], random_wall[ROUNDS];
};

int main(int argc, char **argv)
{
	static const int64_t chunk_rows[CHUNKS] = {64, 256, 1024, 4096};
	/* -1: no filter at all; 0: checksum only; 1, 4: checksum + deflate level */
	static const int levels[LEVELS] = {-1, 0, 1, 4};
	static const char *const filter_names[] = {"none", "checksum", "checksum + deflate 1", "",
						   "", "checksum + deflate 4"};
	static struct result results[CONFIGS];
	char dir[512] = "/tmp/axon-bench-chunks-XXXXXX", shard_dir[1000];
	uint8_t *images = malloc((size_t)N * ROW), *read_images = malloc((size_t)N * ROW);
	int32_t *labels = malloc(N * sizeof(int32_t)), *read_labels = malloc(N * sizeof(int32_t));
	int synthetic = 0, real;
	const char *parent = NULL;
	struct ax_rng rng;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			parent = argv[++i];
		else if (strcmp(argv[i], "--synthetic") == 0)
			synthetic = 1;
		else {
			fprintf(stderr, "usage: bench_hdf5_chunks [--dir DIR] [--synthetic]\n");
			return 2;
		}
	}
	if (parent)
		snprintf(dir, sizeof(dir), "%s/axon-bench-chunks-XXXXXX", parent);
	if (!images || !read_images || !labels || !read_labels || !mkdtemp(dir))
		die("setting up (memory or the temporary directory)");
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	real = load_data(images, labels, synthetic);
	print_machine(dir, real);
	ax_rng_init(&rng, 7);

	/* Write every configuration first ... */
	for (int k = 0; k < CONFIGS; k++) {
		int c = k / LEVELS, l = k % LEVELS;
		struct ax_split_layout layout = {
			.split = "train", .input_dtype = AX_U8, .sample_ndim = 2,
			.sample_shape = {H, W}, .target_kind = AX_TARGET_CLASS, .target_dim = 1,
			.num_classes = 10, .compression = levels[l] > 0 ? levels[l] : 0,
			.chunk_rows = chunk_rows[c], .checksum = levels[l] >= 0};
		struct stat st;
		double start = cpu_now();

		snprintf(shard_dir, sizeof(shard_dir), "%s/c%lld-l%d", dir, (long long)chunk_rows[c],
			 levels[l]);
		if (ax_data_write_split(shard_dir, &layout, images, labels, NULL, N, 1, 0))
			die("ax_data_write_split");
		results[k].write_seconds = cpu_now() - start;
		snprintf(results[k].path, sizeof(results[k].path), "%.800s/train-00000.h5", shard_dir);
		if (stat(results[k].path, &st) != 0)
			die("stat of the shard");
		results[k].file_mb = (double)st.st_size / 1e6;
	}
	/* ... then measure in interleaved rounds: the 2 vCPUs switch between a
	 * fast and a slow mode, and every configuration should see both. */
	for (int round = 0; round < ROUNDS; round++)
		for (int k = 0; k < CONFIGS; k++) {
			for (int r = 0; r < WHOLE_PER_ROUND; r++)
				results[k].whole[round * WHOLE_PER_ROUND + r] =
					read_whole(results[k].path, read_images, read_labels,
						   &results[k].whole_wall[round * WHOLE_PER_ROUND + r]);
			if (round == 0 && (memcmp(read_images, images, (size_t)N * ROW) != 0 ||
					   memcmp(read_labels, labels, N * sizeof(int32_t)) != 0))
				die("reading back the same values");
			results[k].random[round] = read_random(results[k].path, &rng, 0.25,
							       &results[k].random_wall[round]);
		}

	printf("| chunk rows | chunk KiB | filters | file MB | write CPU s | whole-shard read "
	       "CPU ms (wall) | 64 random rows CPU ms (wall) |\n");
	printf("|---:|---:|---|---:|---:|---:|---:|\n");
	for (int k = 0; k < CONFIGS; k++) {
		int c = k / LEVELS, l = k % LEVELS;
		printf("| %lld | %lld | %s | %.1f | %.2f | %.1f (%.1f) | %.2f (%.2f) |\n",
		       (long long)chunk_rows[c], (long long)chunk_rows[c] * ROW / 1024,
		       filter_names[levels[l] + 1], results[k].file_mb, results[k].write_seconds,
		       1e3 * median(results[k].whole, ROUNDS * WHOLE_PER_ROUND),
		       1e3 * median(results[k].whole_wall, ROUNDS * WHOLE_PER_ROUND),
		       1e3 * median(results[k].random, ROUNDS),
		       1e3 * median(results[k].random_wall, ROUNDS));
		unlink(results[k].path);
		snprintf(shard_dir, sizeof(shard_dir), "%.880s", results[k].path);
		*strrchr(shard_dir, '/') = '\0';
		strncat(shard_dir, "/manifest.json", sizeof(shard_dir) - strlen(shard_dir) - 1);
		unlink(shard_dir);
		*strrchr(shard_dir, '/') = '\0';
		rmdir(shard_dir);
	}
	printf("\nwhole-shard read: median of %d reads; 64 random rows: median over %d rounds of the "
	       "median batch\n", ROUNDS * WHOLE_PER_ROUND, ROUNDS);
	printf("default chosen by ax_data_default_chunk_rows for %d-byte rows: %lld rows\n", ROW,
	       (long long)ax_data_default_chunk_rows(ROW));
	rmdir(dir);
	free(images);
	free(read_images);
	free(labels);
	free(read_labels);
	return 0;
}
