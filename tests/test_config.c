/* test_config.c - the training config (launch/config.c): parsing, checking,
 * --set overrides and the resolved config a run directory records.
 *
 * Every test writes a real INI file into a fresh temporary directory and loads
 * it with ax_config_load, as `axon train` does. Errors are checked for what the
 * person running the job needs: the status, and a message naming the file, the
 * line and the key. The round-trip test writes the resolved config, loads it
 * again and compares every field; the hash test changes every key the writer
 * emits (and every layer argument) one at a time and requires a new hash, so a
 * field the writer forgets shows up as a failure here. config.c is built into
 * the `axon` executable, not libaxon: tests/CMakeLists.txt compiles it into
 * this test. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char tmpdir[256];
static char written[16][512]; /* files to remove at the end */
static int n_written;

static int make_tmpdir(void **state)
{
	const char *base = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/axon-test-config-XXXXXX", base);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	for (int i = 0; i < n_written; i++)
		unlink(written[i]);
	return rmdir(tmpdir);
}

/* Write `text` to tmpdir/name; returns the path (static storage per name slot). */
static const char *write_config(const char *name, const char *text)
{
	static char path[512];
	FILE *f;
	int known = 0;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		fail_msg("cannot create %s: %s", path, strerror(errno));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	for (int i = 0; i < n_written; i++)
		known |= strcmp(written[i], path) == 0;
	if (!known && n_written < 16)
		snprintf(written[n_written++], sizeof(written[0]), "%s", path);
	return path;
}

static enum ax_status load_text(struct ax_config *cfg, const char *name, const char *text,
				int n_overrides, const char *const *overrides)
{
	const char *path = write_config(name, text);

	ax_clear_error();
	return ax_config_load(cfg, path, n_overrides, (char *const *)overrides);
}

/* Assert st is `want` and the message holds every one of the NULL-terminated strings. */
static void expect_error(enum ax_status st, enum ax_status want, const char *what, ...)
{
	const char *message = ax_last_error();
	va_list ap;

	if (st != want)
		fail_msg("%s: got %s (%s), expected %s", what, ax_status_name(st), message,
			 ax_status_name(want));
	va_start(ap, what);
	for (const char *needle; (needle = va_arg(ap, const char *));) {
		if (!strstr(message, needle)) {
			va_end(ap);
			fail_msg("%s: the message '%s' does not contain '%s'", what, message, needle);
		}
	}
	va_end(ap);
}

/* ---- a full valid config ---- */

static const char full_config[] =
	"# a config using every section\n"
	"[data]\n"
	"train = runs/data/train   ; inline comment\n"
	"val = runs/data/val\n"
	"test = runs/data/test\n"
	"batch_size = 128\n"
	"shuffle = no\n"
	"seed = 7\n"
	"crop_padding = 4\n"
	"hflip = on\n"
	"window_shards = 3\n"
	"prefetch = 2\n"
	"\n"
	"[model]\n"
	"flat = flatten\n"
	"fc1 = linear 64 init=he_uniform\n"
	"act1 = leaky_relu 0.2\n"
	"drop1 = dropout p=0.25\n"
	"fc2 = linear out=64 bias=false frozen=true\n"
	"res = add fc1\n"
	"norm = layer_norm 1e-6 affine=false\n"
	"g = gelu tanh\n"
	"side = relu input=fc1\n"
	"back = add residual=input\n"
	"emb = embedding 100 8\n"
	"emb2 = embedding num=50 dim=4\n"
	"head = linear 10\n"
	"seed = 42\n"
	"\n"
	"[optimizer]\n"
	"name = sgd\n"
	"lr = 0.05\n"
	"momentum = 0.9\n"
	"dampening = 0\n"
	"nesterov = true\n"
	"weight_decay = 5e-4\n"
	"clip_grad_norm = 1.5\n"
	"\n"
	"[schedule]\n"
	"name = step\n"
	"warmup_steps = 10\n"
	"warmup_start_factor = 0.1\n"
	"step_size = 30\n"
	"gamma = 0.5\n"
	"min_lr = 1e-5\n"
	"\n"
	"[loop]\n"
	"epochs = 12\n"
	"steps = 0\n"
	"eval_every = 50\n"
	"log_every = 10\n"
	"loss = cross_entropy\n"
	"label_smoothing = 0.1\n"
	"early_stopping_metric = val_f1\n"
	"patience = 3\n"
	"min_delta = 0.001\n"
	"threads = 2\n"
	"\n"
	"[output]\n"
	"dir = runs/full\n";

static void test_full_config_parses(void **state)
{
	struct ax_config c;
	const struct ax_layer_spec *L = c.layers;

	(void)state;
	TU_OK(load_text(&c, "full.ini", full_config, 0, NULL));
	assert_non_null(strstr(c.source, "full.ini"));
	assert_string_equal(c.train, "runs/data/train");
	assert_string_equal(c.val, "runs/data/val");
	assert_string_equal(c.test, "runs/data/test");
	assert_int_equal(c.batch_size, 128);
	assert_int_equal(c.shuffle, 0);
	assert_int_equal(c.data_seed, 7);
	assert_int_equal(c.crop_padding, 4);
	assert_int_equal(c.hflip, 1);
	assert_int_equal(c.window_shards, 3);
	assert_int_equal(c.prefetch, 2);

	/* Layers in file order, positional and key=value forms alike. */
	assert_int_equal(c.n_layers, 13);
	assert_int_equal(c.model_seed, 42);
	assert_string_equal(L[0].name, "flat");
	assert_int_equal(L[0].kind, AX_LAYER_FLATTEN);
	assert_string_equal(L[1].name, "fc1");
	assert_int_equal(L[1].kind, AX_LAYER_LINEAR);
	assert_int_equal(L[1].out_features, 64);
	assert_int_equal(L[1].bias, 1);
	assert_int_equal(L[1].init, AX_INIT_HE_UNIFORM);
	assert_int_equal(L[1].frozen, 0);
	assert_int_equal(L[2].kind, AX_LAYER_LEAKY_RELU);
	assert_true(L[2].slope == 0.2f);
	assert_int_equal(L[3].kind, AX_LAYER_DROPOUT);
	assert_true(L[3].p == 0.25f);
	assert_string_equal(L[4].name, "fc2");
	assert_int_equal(L[4].out_features, 64);
	assert_int_equal(L[4].bias, 0);
	assert_int_equal(L[4].frozen, 1);
	assert_int_equal(L[4].init, AX_INIT_DEFAULT);
	assert_int_equal(L[5].kind, AX_LAYER_ADD);
	assert_string_equal(L[5].residual, "fc1");
	assert_string_equal(L[5].input, "");
	assert_int_equal(L[6].kind, AX_LAYER_LAYER_NORM);
	assert_true(L[6].eps == 1e-6f);
	assert_int_equal(L[6].affine, 0);
	assert_int_equal(L[7].kind, AX_LAYER_GELU);
	assert_int_equal(L[7].gelu_form, AX_GELU_TANH);
	assert_int_equal(L[8].kind, AX_LAYER_RELU);
	assert_string_equal(L[8].input, "fc1");
	assert_string_equal(L[9].residual, "input");
	assert_int_equal(L[10].kind, AX_LAYER_EMBEDDING);
	assert_int_equal(L[10].num_embeddings, 100);
	assert_int_equal(L[10].embedding_dim, 8);
	assert_int_equal(L[11].num_embeddings, 50);
	assert_int_equal(L[11].embedding_dim, 4);
	assert_string_equal(L[12].name, "head");
	assert_int_equal(L[12].out_features, 10);

	assert_string_equal(c.optimizer, "sgd");
	assert_true(c.lr == 0.05f);
	assert_true(c.momentum == 0.9f);
	assert_true(c.dampening == 0.0f);
	assert_int_equal(c.nesterov, 1);
	assert_true(c.weight_decay == 5e-4f);
	assert_true(c.clip_grad_norm == 1.5f);
	assert_string_equal(c.schedule, "step");
	assert_int_equal(c.warmup_steps, 10);
	assert_true(c.warmup_start_factor == 0.1f);
	assert_int_equal(c.step_size, 30);
	assert_true(c.gamma == 0.5f);
	assert_true(c.min_lr == 1e-5f);
	assert_int_equal(c.epochs, 12);
	assert_int_equal(c.steps, 0);
	assert_int_equal(c.eval_every, 50);
	assert_int_equal(c.log_every, 10);
	assert_string_equal(c.loss, "cross_entropy");
	assert_true(c.label_smoothing == 0.1f);
	assert_string_equal(c.early_stopping_metric, "val_f1");
	assert_int_equal(c.patience, 3);
	assert_true(c.min_delta == 0.001f);
	assert_int_equal(c.threads, 2);
	assert_string_equal(c.dir, "runs/full");
}

/* What docs/config.md promises for keys a config leaves out. */
static void test_defaults_match_the_docs(void **state)
{
	struct ax_config c;

	(void)state;
	TU_OK(load_text(&c, "minimal.ini", "[data]\ntrain = t\n[model]\nfc = linear 2\n"
			"[loop]\nsteps = 5\n", 0, NULL));
	assert_int_equal(c.batch_size, 64);
	assert_int_equal(c.shuffle, 1);
	assert_int_equal(c.data_seed, 1);
	assert_int_equal(c.crop_padding, 0);
	assert_int_equal(c.hflip, 0);
	assert_int_equal(c.window_shards, 0);
	assert_int_equal(c.prefetch, 4);
	assert_int_equal(c.model_seed, 1);
	assert_string_equal(c.optimizer, "adamw");
	assert_true(c.lr == 1e-3f);
	assert_true(c.weight_decay == 0.01f);
	assert_true(c.momentum == 0.0f && c.dampening == 0.0f && c.nesterov == 0);
	assert_true(c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f);
	assert_true(c.clip_grad_norm == 0.0f);
	assert_string_equal(c.schedule, "constant");
	assert_int_equal(c.warmup_steps, 0);
	assert_int_equal(c.step_size, 1000);
	assert_true(c.gamma == 0.1f && c.min_lr == 0.0f && c.warmup_start_factor == 0.0f);
	assert_int_equal(c.epochs, 0);
	assert_int_equal(c.steps, 5);
	assert_int_equal(c.eval_every, 0);
	assert_int_equal(c.log_every, 100);
	assert_string_equal(c.loss, "cross_entropy");
	assert_string_equal(c.early_stopping_metric, "");
	assert_int_equal(c.patience, 0);
	assert_int_equal(c.threads, 0);
	assert_string_equal(c.val, "");
	assert_string_equal(c.dir, "");
	/* A layer's optional arguments take the model's defaults. */
	assert_int_equal(c.n_layers, 1);
	assert_int_equal(c.layers[0].bias, 1);
	assert_int_equal(c.layers[0].init, AX_INIT_DEFAULT);
}

/* ---- errors at a line ---- */

/* Lines 1-11 are valid; each case appends lines from line 12 on. */
static const char error_base[] =
	"# lines are counted from 1, comments and blank lines included\n" /* 1 */
	"[data]\n"                                                        /* 2 */
	"train = tr\n"                                                    /* 3 */
	"val = va\n"                                                      /* 4 */
	"\n"                                                              /* 5 */
	"[model]\n"                                                       /* 6 */
	"fc1 = linear 8\n"                                                /* 7 */
	"out = linear 3\n"                                                /* 8 */
	"; another comment\n"                                             /* 9 */
	"[loop]\n"                                                        /* 10 */
	"epochs = 2\n";                                                   /* 11 */

struct line_error {
	const char *what, *append;
	int line;
	const char *key, *detail; /* both must appear in the message */
};

static const struct line_error line_errors[] = {
	{"unknown section", "[extra]\nfoo = 1\n", 13, "[extra]", "sections: data, model"},
	{"unknown key", "[optimizer]\nlrr = 0.1\n", 13, "lrr", "known: name, lr, momentum"},
	{"unknown key in [data]", "[data]\nbatchsize = 3\n", 13, "batchsize", "batch_size"},
	{"key given twice", "[loop]\nepochs = 3\n", 13, "epochs", "twice"},
	{"key given twice, same section", "eval_every = 1\neval_every = 2\n", 13, "eval_every",
	 "twice"},
	{"bad int", "[data]\nbatch_size = 12abc\n", 13, "batch_size", "'12abc'"},
	{"int given as a float", "[data]\nbatch_size = 1.5\n", 13, "batch_size", "whole number"},
	{"bad float", "[optimizer]\nlr = fast\n", 13, "lr", "'fast'"},
	{"nan float", "[optimizer]\nlr = nan\n", 13, "lr", "not a number"},
	{"bad bool", "[data]\nshuffle = maybe\n", 13, "shuffle", "true or false"},
	{"bad choice", "[optimizer]\nname = rmsprop\n", 13, "name", "sgd|adam|adamw"},
	{"bad loss", "loss = hinge\n", 12, "loss", "cross_entropy|mse"},
	{"bad early stopping metric", "early_stopping_metric = loss\n", 12,
	 "early_stopping_metric", "val_loss"},
	{"int below range", "[data]\nbatch_size = 0\n", 13, "batch_size", "from 1"},
	{"negative steps", "steps = -1\n", 12, "steps", "'-1'"},
	{"prefetch out of range", "[data]\nprefetch = 0\n", 13, "prefetch", "from 1"},
	{"float above range", "[optimizer]\nmomentum = 1.5\n", 13, "momentum", "from 0 to 1"},
	{"negative lr", "[optimizer]\nlr = -0.1\n", 13, "lr", "'-0.1'"},
	{"label smoothing 1", "label_smoothing = 1\n", 12, "label_smoothing", "0.999"},
	{"layer of unknown kind", "[model]\nc1 = conv 3\n", 13, "c1", "unknown kind 'conv'"},
	{"layer without kind", "[model]\nc1 = \n", 13, "c1", "unknown kind"},
	{"positional arg a kind does not take", "[model]\nr1 = relu 3\n", 13, "r1",
	 "unexpected argument '3'"},
	{"key arg a kind does not take", "[model]\nr1 = relu p=0.5\n", 13, "r1", "'p=0.5'"},
	{"bias on dropout", "[model]\nd1 = dropout 0.1 bias=false\n", 13, "d1", "'bias=false'"},
	{"init on relu", "[model]\nr1 = relu init=he_normal\n", 13, "r1", "'init=he_normal'"},
	{"dropout p out of range", "[model]\nd1 = dropout 1.5\n", 13, "d1", "'p=1.5'"},
	{"linear width 0", "[model]\nfc2 = linear 0\n", 13, "fc2", "'out=0'"},
	{"bad gelu form", "[model]\ng = gelu fast\n", 13, "g", "'form=fast'"},
	{"bad init name", "[model]\nfc2 = linear 4 init=lecun\n", 13, "fc2", "'init=lecun'"},
	{"duplicate layer name", "[model]\nfc1 = linear 4\n", 13, "fc1", "defined twice"},
	{"linear without width", "[model]\nfc2 = linear bias=false\n", 13, "fc2",
	 "'fc2 = linear 256'"},
	{"embedding without dim", "[model]\ne = embedding 10\n", 13, "e", "num=VOCAB dim=WIDTH"},
	{"add without residual", "[model]\nr = add\n", 13, "r", "residual=fc1"},
	{"not INI", "[loop]\nthis line has no equals sign\n", 13, "", "not valid INI syntax"},
};

static void test_errors_name_file_line_and_key(void **state)
{
	char text[2048], where[64];
	struct ax_config c;

	(void)state;
	for (size_t i = 0; i < sizeof(line_errors) / sizeof(line_errors[0]); i++) {
		const struct line_error *e = &line_errors[i];

		snprintf(text, sizeof(text), "%s%s", error_base, e->append);
		snprintf(where, sizeof(where), "bad.ini:%d:", e->line);
		expect_error(load_text(&c, "bad.ini", text, 0, NULL), AX_ERR_INVALID, e->what, where,
			     e->key, e->detail, NULL);
	}
	/* The base itself is valid: every failure above is the appended line's. */
	TU_OK(load_text(&c, "bad.ini", error_base, 0, NULL));
	/* A key before the first section header. */
	expect_error(load_text(&c, "bad.ini", "train = x\n[data]\n", 0, NULL), AX_ERR_INVALID,
		     "key outside a section", "bad.ini:1:", "unknown section []", NULL);
}

/* A line longer than libinih's buffer must not be cut in two and half-parsed:
 * the error names that line, not a later one. */
static void test_overlong_line_is_named(void **state)
{
	char text[2048], longpath[400], where[64];
	struct ax_config c;

	(void)state;
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	snprintf(text, sizeof(text), "[data]\ntrain = %s\n[model]\nfc = linear 2\n[loop]\nsteps = 1\n",
		 longpath);
	snprintf(where, sizeof(where), "long.ini:%d:", 2);
	expect_error(load_text(&c, "long.ini", text, 0, NULL), AX_ERR_INVALID, "overlong line", where,
		     "too long", NULL);
	/* A long comment is harmless, and the lines after it still count right. */
	snprintf(text, sizeof(text), "# %s\n[data]\ntrain = t\nbatch_size = 0\n", longpath);
	expect_error(load_text(&c, "long.ini", text, 0, NULL), AX_ERR_INVALID, "after a long comment",
		     "long.ini:4:", "batch_size", NULL);
	/* The same long path passed with --set is fine. */
	{
		char set[500];
		const char *sets[] = {set};

		snprintf(set, sizeof(set), "data.train=%s", longpath);
		TU_OK(load_text(&c, "long.ini", "[model]\nfc = linear 2\n[loop]\nsteps = 1\n", 1,
				sets));
		assert_string_equal(c.train, longpath);
	}
}

/* ---- consistency checks after the whole file ---- */

static void test_consistency_errors(void **state)
{
	struct ax_config c;

	(void)state;
	expect_error(load_text(&c, "c.ini", "[data]\nval = v\n[model]\nfc = linear 2\n[loop]\n"
			       "epochs = 1\n", 0, NULL),
		     AX_ERR_INVALID, "missing train", "c.ini", "[data] train is required", NULL);
	expect_error(load_text(&c, "c.ini", "[data]\ntrain = t\n[model]\nseed = 3\n[loop]\n"
			       "epochs = 1\n", 0, NULL),
		     AX_ERR_INVALID, "no layers", "c.ini", "[model] lists no layers", NULL);
	expect_error(load_text(&c, "c.ini", "[data]\ntrain = t\n[model]\nfc = linear 2\n[loop]\n"
			       "log_every = 1\n", 0, NULL),
		     AX_ERR_INVALID, "no epochs or steps", "c.ini", "[loop] needs epochs or steps",
		     NULL);
	/* The offending key has a line: the message points at it. */
	expect_error(load_text(&c, "c.ini", "[data]\ntrain = t\n[model]\nfc = linear 2\n[loop]\n"
			       "epochs = 1\n[optimizer]\nname = sgd\nnesterov = true\n", 0, NULL),
		     AX_ERR_INVALID, "nesterov without momentum", "c.ini:9:", "nesterov",
		     "momentum", NULL);
	expect_error(load_text(&c, "c.ini", "[data]\ntrain = t\n[model]\nfc = linear 2\n[loop]\n"
			       "epochs = 1\nearly_stopping_metric = val_loss\n", 0, NULL),
		     AX_ERR_INVALID, "early stopping without val", "c.ini:7:",
		     "early_stopping_metric", "[data] val", NULL);
	expect_error(load_text(&c, "c.ini", "[data]\ntrain = t\n[model]\nfc = linear 2\n[loop]\n"
			       "epochs = 1\nlabel_smoothing = 0.1\nloss = mse\n", 0, NULL),
		     AX_ERR_INVALID, "label smoothing with mse", "c.ini:7:", "label_smoothing", NULL);
	/* With momentum the same nesterov line is fine; with val the metric is fine. */
	TU_OK(load_text(&c, "c.ini", "[data]\ntrain = t\nval = v\n[model]\nfc = linear 2\n[loop]\n"
			"epochs = 1\nearly_stopping_metric = val_loss\n[optimizer]\nname = sgd\n"
			"nesterov = true\nmomentum = 0.9\n", 0, NULL));
	assert_int_equal(c.nesterov, 1);
	/* steps alone is enough, and wins over epochs at run time (both are kept). */
	TU_OK(load_text(&c, "c.ini", "[data]\ntrain = t\n[model]\nfc = linear 2\n[loop]\n"
			"steps = 9\n", 0, NULL));
	assert_int_equal(c.steps, 9);
}

static void test_missing_file(void **state)
{
	struct ax_config c;
	char path[600];

	(void)state;
	snprintf(path, sizeof(path), "%s/does-not-exist.ini", tmpdir);
	ax_clear_error();
	expect_error(ax_config_load(&c, path, 0, NULL), AX_ERR_IO, "missing file", path,
		     "cannot open", NULL);
}

/* ---- --set ---- */

static void test_set_overrides(void **state)
{
	struct ax_config c;

	(void)state;
	{
		const char *sets[] = {"optimizer.lr=0.5", "loop.epochs=7", "data.val=other/val",
				      "optimizer.lr=0.25"};

		TU_OK(load_text(&c, "set.ini", error_base, 4, sets));
		assert_true(c.lr == 0.25f); /* the last --set of a key wins */
		assert_int_equal(c.epochs, 7); /* over the file's value: not "given twice" */
		assert_string_equal(c.val, "other/val");
	}
	{
		/* A layer redefined in place keeps its position; a new one goes last. */
		const char *sets[] = {"model.fc1=gelu tanh", "model.fc1=linear 32 bias=false",
				      "model.extra=dropout 0.5"};

		TU_OK(load_text(&c, "set.ini", error_base, 3, sets));
		assert_int_equal(c.n_layers, 3);
		assert_string_equal(c.layers[0].name, "fc1");
		assert_int_equal(c.layers[0].kind, AX_LAYER_LINEAR);
		assert_int_equal(c.layers[0].out_features, 32);
		assert_int_equal(c.layers[0].bias, 0);
		assert_string_equal(c.layers[1].name, "out");
		assert_int_equal(c.layers[1].out_features, 3);
		assert_string_equal(c.layers[2].name, "extra");
		assert_true(c.layers[2].p == 0.5f);
	}
	{
		/* --set fixes what the file lacks: the checks run after the overrides. */
		const char *sets[] = {"data.train=t", "loop.steps=3"};

		TU_OK(load_text(&c, "set.ini", "[model]\nfc = linear 2\n", 2, sets));
		assert_string_equal(c.train, "t");
	}
	{
		const char *malformed[] = {"optimizer.lr", "lr=0.1", "=0.1", "optimizer=lr.x"};

		for (int i = 0; i < 4; i++) {
			expect_error(load_text(&c, "set.ini", error_base, 1, &malformed[i]),
				     AX_ERR_INVALID, malformed[i], "--set", malformed[i],
				     "section.key=value", NULL);
		}
	}
	{
		const char *unknown_key[] = {"optimizer.lrr=1"}, *unknown_section[] = {"optim.lr=1"},
			   *bad_value[] = {"data.batch_size=0"}, *bad_layer[] = {"model.fc1=linear"};

		expect_error(load_text(&c, "set.ini", error_base, 1, unknown_key), AX_ERR_INVALID,
			     "unknown key via --set", "config --set:", "lrr", "known: name, lr", NULL);
		expect_error(load_text(&c, "set.ini", error_base, 1, unknown_section),
			     AX_ERR_INVALID, "unknown section via --set", "config --set:", "[optim]",
			     NULL);
		expect_error(load_text(&c, "set.ini", error_base, 1, bad_value), AX_ERR_INVALID,
			     "bad value via --set", "config --set:", "batch_size", "'0'", NULL);
		expect_error(load_text(&c, "set.ini", error_base, 1, bad_layer), AX_ERR_INVALID,
			     "bad layer via --set", "config --set:", "fc1", "linear 256", NULL);
	}
}

/* ---- the resolved config ---- */

static void assert_layers_equal(const struct ax_layer_spec *a, const struct ax_layer_spec *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(a->input, b->input);
	assert_string_equal(a->residual, b->residual);
	assert_int_equal(a->out_features, b->out_features);
	assert_int_equal(a->bias, b->bias);
	assert_true(a->slope == b->slope);
	assert_int_equal(a->gelu_form, b->gelu_form);
	assert_true(a->p == b->p);
	assert_true(a->eps == b->eps);
	assert_int_equal(a->affine, b->affine);
	assert_int_equal(a->num_embeddings, b->num_embeddings);
	assert_int_equal(a->embedding_dim, b->embedding_dim);
	assert_int_equal(a->init, b->init);
	assert_int_equal(a->frozen, b->frozen);
}

static void assert_configs_equal(const struct ax_config *a, const struct ax_config *b)
{
	assert_string_equal(a->train, b->train);
	assert_string_equal(a->val, b->val);
	assert_string_equal(a->test, b->test);
	assert_int_equal(a->batch_size, b->batch_size);
	assert_int_equal(a->shuffle, b->shuffle);
	assert_int_equal(a->data_seed, b->data_seed);
	assert_int_equal(a->crop_padding, b->crop_padding);
	assert_int_equal(a->hflip, b->hflip);
	assert_int_equal(a->window_shards, b->window_shards);
	assert_int_equal(a->prefetch, b->prefetch);
	assert_int_equal(a->n_layers, b->n_layers);
	for (int i = 0; i < a->n_layers; i++)
		assert_layers_equal(&a->layers[i], &b->layers[i]);
	assert_int_equal(a->model_seed, b->model_seed);
	assert_string_equal(a->optimizer, b->optimizer);
	assert_true(a->lr == b->lr);
	assert_true(a->momentum == b->momentum);
	assert_true(a->dampening == b->dampening);
	assert_true(a->beta1 == b->beta1);
	assert_true(a->beta2 == b->beta2);
	assert_true(a->eps == b->eps);
	assert_true(a->weight_decay == b->weight_decay);
	assert_true(a->clip_grad_norm == b->clip_grad_norm);
	assert_int_equal(a->nesterov, b->nesterov);
	assert_string_equal(a->schedule, b->schedule);
	assert_int_equal(a->warmup_steps, b->warmup_steps);
	assert_int_equal(a->step_size, b->step_size);
	assert_true(a->gamma == b->gamma);
	assert_true(a->min_lr == b->min_lr);
	assert_true(a->warmup_start_factor == b->warmup_start_factor);
	assert_int_equal(a->epochs, b->epochs);
	assert_int_equal(a->steps, b->steps);
	assert_int_equal(a->eval_every, b->eval_every);
	assert_int_equal(a->log_every, b->log_every);
	assert_string_equal(a->loss, b->loss);
	assert_true(a->label_smoothing == b->label_smoothing);
	assert_string_equal(a->early_stopping_metric, b->early_stopping_metric);
	assert_int_equal(a->patience, b->patience);
	assert_true(a->min_delta == b->min_delta);
	assert_int_equal(a->threads, b->threads);
	assert_int_equal(a->accumulate_steps, b->accumulate_steps);
	assert_int_equal(a->bucket_kib, b->bucket_kib);
	assert_string_equal(a->grad_transport, b->grad_transport);
	assert_string_equal(a->dir, b->dir);
}

static char *config_text(const struct ax_config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	assert_non_null(mem);
	ax_config_write(c, mem);
	assert_int_equal(fclose(mem), 0);
	return text;
}

/* Values that %g would round (0.1234567 -> 0.123457) must come back exactly. */
static const char round_trip_config[] =
	"[data]\ntrain = /data/train set\nval = v\nbatch_size = 33\nshuffle = false\n"
	"[model]\n"
	"fc1 = linear 17 bias=false init=xavier_normal frozen=true\n"
	"d = dropout 0.1234567\n"
	"lr1 = leaky_relu 0.0123456789\n"
	"g = gelu tanh input=fc1\n"
	"n = layer_norm 1.2345678e-5 affine=false\n"
	"e = embedding 1000 12\n"
	"r = add residual=input\n"
	"out = linear 4\n"
	"seed = 99\n"
	"[optimizer]\nname = adam\nlr = 0.000123456789\nbeta2 = 0.98765\n"
	"[schedule]\nname = cosine\nmin_lr = 3.3e-7\nwarmup_steps = 5\n"
	"[loop]\nsteps = 1234\nearly_stopping_metric = val_accuracy\npatience = 2\n"
	"min_delta = 0.0001\n[output]\ndir = runs/rt\n";

static void test_round_trip(void **state)
{
	struct ax_config a, b, c;
	char *text_a, *text_b;
	uint64_t hash_a;

	(void)state;
	TU_OK(load_text(&a, "rt.ini", round_trip_config, 0, NULL));
	text_a = config_text(&a);
	TU_OK(load_text(&b, "rt-resolved.ini", text_a, 0, NULL));
	assert_configs_equal(&a, &b);
	hash_a = ax_config_hash(&a);
	assert_true(hash_a != 0);
	assert_true(hash_a == ax_config_hash(&b));
	/* Field by field above says where; the bytes say nothing was missed
	 * (both structs start from the same memset and the same strings). */
	memcpy(b.source, a.source, sizeof(a.source));
	assert_memory_equal(&a, &b, sizeof(a));
	/* Writing the re-read config gives the same text (a fixed point), apart
	 * from the first line naming the source file. */
	text_b = config_text(&b);
	assert_string_equal(strchr(text_a, '\n'), strchr(text_b, '\n'));
	free(text_b);
	/* The full config too, and it is not the same config. */
	TU_OK(load_text(&c, "full.ini", full_config, 0, NULL));
	free(text_a);
	text_a = config_text(&c);
	TU_OK(load_text(&b, "full-resolved.ini", text_a, 0, NULL));
	assert_configs_equal(&c, &b);
	assert_true(ax_config_hash(&c) == ax_config_hash(&b));
	assert_true(ax_config_hash(&c) != hash_a);
	free(text_a);
}

/* Base for the hash test: every key set, every layer kind present, and
 * values from which each key can move (nesterov needs momentum > 0). */
static const char hash_base[] =
	"[data]\ntrain = t\nval = v\n"
	"[model]\n"
	"fc = linear 8\nd = dropout 0.1\nlk = leaky_relu 0.1\ng = gelu erf\n"
	"n = layer_norm 1e-5\ne = embedding 10 4\nr = add fc\nout = linear 3\n"
	"[optimizer]\nname = sgd\nmomentum = 0.5\n"
	"[loop]\nepochs = 2\n";

/* Try to change `key` in `section` from `value`: candidates in turn, the first
 * the config accepts. Returns 1 and fills *cfg when one was accepted. */
static int change_key(const char *section, const char *key, const char *value,
		      struct ax_config *cfg)
{
	char candidates[12][160], set[400];
	int n = 0;
	double number;
	char *end;

	if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
		snprintf(candidates[n++], sizeof(candidates[0]), "%s",
			 value[0] == 't' ? "false" : "true");
	} else {
		number = strtod(value, &end);
		if (end != value && *end == '\0') {
			snprintf(candidates[n++], sizeof(candidates[0]), "%.17g", number + 1);
			if (number != 0)
				snprintf(candidates[n++], sizeof(candidates[0]), "%.17g", number / 2);
			snprintf(candidates[n++], sizeof(candidates[0]), "0.5");
		}
		/* choices and paths */
		for (const char *const *c = (const char *const[]){"sgd", "adam", "cosine", "mse",
								    "val_f1", "cpu", "bf16", "mpi", NULL};
		     *c; c++)
			if (strcmp(*c, value) != 0)
				snprintf(candidates[n++], sizeof(candidates[0]), "%s", *c);
	}
	for (int i = 0; i < n; i++) {
		const char *sets[] = {set};

		snprintf(set, sizeof(set), "%s.%s=%s", section, key, candidates[i]);
		if (load_text(cfg, "hash.ini", hash_base, 1, sets) == AX_OK)
			return 1;
	}
	return 0;
}

static void test_hash_changes_with_every_value(void **state)
{
	static const char *const layer_changes[] = {
		"model.fc=linear 9", "model.fc=linear 8 bias=false", "model.fc=linear 8 init=he_normal",
		"model.fc=linear 8 input=input", "model.fc=linear 8 frozen=true",
		"model.d=dropout 0.2", "model.lk=leaky_relu 0.2", "model.g=gelu tanh",
		"model.n=layer_norm 1e-6", "model.n=layer_norm 1e-5 affine=false",
		"model.e=embedding 11 4", "model.e=embedding 10 5", "model.r=add input",
		"model.r=relu", "model.new=relu",
	};
	struct ax_config base, changed;
	char *text, *line, *save = NULL, section[32] = "";
	uint64_t h0;
	int keys = 0;

	(void)state;
	TU_OK(load_text(&base, "hash.ini", hash_base, 0, NULL));
	h0 = ax_config_hash(&base);
	/* The source file is not part of the config: the same text elsewhere hashes the same. */
	TU_OK(load_text(&changed, "hash-copy.ini", hash_base, 0, NULL));
	assert_true(ax_config_hash(&changed) == h0);

	/* Every "key = value" the writer emits, outside the layer lines. */
	text = config_text(&base);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[64], value[256];
		const char *eq = strstr(line, " = ");

		if (line[0] == '[') {
			snprintf(section, sizeof(section), "%.*s", (int)(strcspn(line + 1, "]")),
				 line + 1);
			continue;
		}
		if (line[0] == '#' || !eq)
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(eq - line), line);
		snprintf(value, sizeof(value), "%s", eq + 3);
		if (strcmp(section, "model") == 0 && strcmp(key, "seed") != 0)
			continue; /* a layer: below */
		if (!change_key(section, key, value, &changed))
			fail_msg("[%s] %s = %s: no other value was accepted (%s)", section, key, value,
				 ax_last_error());
		if (ax_config_hash(&changed) == h0)
			fail_msg("[%s] %s changed from '%s' but the hash did not", section, key, value);
		keys++;
	}
	free(text);
	assert_true(keys >= 38); /* every table key; fewer means the writer dropped some */

	for (size_t i = 0; i < sizeof(layer_changes) / sizeof(layer_changes[0]); i++) {
		const char *sets[] = {layer_changes[i]};

		TU_OK(load_text(&changed, "hash.ini", hash_base, 1, sets));
		if (ax_config_hash(&changed) == h0)
			fail_msg("--set %s did not change the hash", layer_changes[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config_parses),
		cmocka_unit_test(test_defaults_match_the_docs),
		cmocka_unit_test(test_errors_name_file_line_and_key),
		cmocka_unit_test(test_overlong_line_is_named),
		cmocka_unit_test(test_consistency_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_set_overrides),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hash_changes_with_every_value),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
