/* config.c - parsing and checking the training config (see config.h).
 *
 * libinih does the INI syntax; this file does the meaning. Every known key is
 * one row of a table (section, name, type, where it lives in struct
 * ax_config, limits), so parsing, checking, the "known keys" hint in error
 * messages and the resolved-config writer all come from the same table. The
 * [model] section is the exception: its keys are layer names, its values a
 * layer kind and arguments, kept in file order. libinih as packaged reports
 * no line numbers to the handler, so the reader callback counts lines. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

enum key_type { T_PATH, T_INT, T_FLOAT, T_BOOL, T_CHOICE };

struct key {
	const char *section, *name;
	enum key_type type;
	size_t offset, size;
	double min, max;       /* numbers */
	const char *choices;   /* T_CHOICE: "a|b|c" */
};

#define AT(field) offsetof(struct ax_config, field), sizeof(((struct ax_config *)0)->field)

static const struct key keys[] = {
	{"data", "train", T_PATH, AT(train), 0, 0, NULL},
	{"data", "val", T_PATH, AT(val), 0, 0, NULL},
	{"data", "test", T_PATH, AT(test), 0, 0, NULL},
	{"data", "batch_size", T_INT, AT(batch_size), 1, 1 << 24, NULL},
	{"data", "shuffle", T_BOOL, AT(shuffle), 0, 1, NULL},
	{"data", "seed", T_INT, AT(data_seed), 0, 9.2e18, NULL},
	{"data", "crop_padding", T_INT, AT(crop_padding), 0, 1024, NULL},
	{"data", "hflip", T_BOOL, AT(hflip), 0, 1, NULL},
	{"data", "window_shards", T_INT, AT(window_shards), 0, 1 << 20, NULL},
	{"data", "prefetch", T_INT, AT(prefetch), 1, 1024, NULL},
	{"model", "seed", T_INT, AT(model_seed), 0, 9.2e18, NULL},
	{"optimizer", "name", T_CHOICE, AT(optimizer), 0, 0, "sgd|adam|adamw"},
	{"optimizer", "lr", T_FLOAT, AT(lr), 0, 1e6, NULL},
	{"optimizer", "momentum", T_FLOAT, AT(momentum), 0, 1, NULL},
	{"optimizer", "dampening", T_FLOAT, AT(dampening), 0, 1, NULL},
	{"optimizer", "nesterov", T_BOOL, AT(nesterov), 0, 1, NULL},
	{"optimizer", "beta1", T_FLOAT, AT(beta1), 0, 0.999999, NULL},
	{"optimizer", "beta2", T_FLOAT, AT(beta2), 0, 0.999999999, NULL},
	{"optimizer", "eps", T_FLOAT, AT(eps), 1e-30, 1, NULL},
	{"optimizer", "weight_decay", T_FLOAT, AT(weight_decay), 0, 1e3, NULL},
	{"optimizer", "clip_grad_norm", T_FLOAT, AT(clip_grad_norm), 0, 1e12, NULL},
	{"schedule", "name", T_CHOICE, AT(schedule), 0, 0, "constant|step|cosine"},
	{"schedule", "warmup_steps", T_INT, AT(warmup_steps), 0, 9.2e18, NULL},
	{"schedule", "warmup_start_factor", T_FLOAT, AT(warmup_start_factor), 0, 1, NULL},
	{"schedule", "step_size", T_INT, AT(step_size), 1, 9.2e18, NULL},
	{"schedule", "gamma", T_FLOAT, AT(gamma), 0, 1, NULL},
	{"schedule", "min_lr", T_FLOAT, AT(min_lr), 0, 1e6, NULL},
	{"loop", "epochs", T_INT, AT(epochs), 0, 1e9, NULL},
	{"loop", "steps", T_INT, AT(steps), 0, 9.2e18, NULL},
	{"loop", "eval_every", T_INT, AT(eval_every), 0, 9.2e18, NULL},
	{"loop", "log_every", T_INT, AT(log_every), 1, 9.2e18, NULL},
	{"loop", "loss", T_CHOICE, AT(loss), 0, 0, "cross_entropy|mse"},
	{"loop", "label_smoothing", T_FLOAT, AT(label_smoothing), 0, 0.999, NULL},
	{"loop", "early_stopping_metric", T_CHOICE, AT(early_stopping_metric), 0, 0,
	 "|val_loss|val_accuracy|val_precision|val_recall|val_f1"},
	{"loop", "patience", T_INT, AT(patience), 0, 1e9, NULL},
	{"loop", "min_delta", T_FLOAT, AT(min_delta), 0, 1e9, NULL},
	{"loop", "threads", T_INT, AT(threads), 0, 4096, NULL},
	{"loop", "accumulate_steps", T_INT, AT(accumulate_steps), 1, 1 << 20, NULL},
	{"loop", "bucket_kib", T_INT, AT(bucket_kib), 0, 1 << 22, NULL},
	{"loop", "grad_transport", T_CHOICE, AT(grad_transport), 0, 0, "auto|shm|mpi"},
	{"loop", "device", T_CHOICE, AT(device), 0, 0, "auto|cpu|cuda"},
	{"loop", "precision", T_CHOICE, AT(precision), 0, 0, "f32|bf16"},
	{"output", "dir", T_PATH, AT(dir), 0, 0, NULL},
	{"checkpoint", "every_steps", T_INT, AT(ckpt_every_steps), 0, 9.2e18, NULL},
	{"checkpoint", "every_minutes", T_FLOAT, AT(ckpt_every_minutes), 0, 1e6, NULL},
	{"checkpoint", "keep_last", T_INT, AT(ckpt_keep_last), 1, 1e6, NULL},
	{"checkpoint", "nan_patience", T_INT, AT(nan_patience), 1, 1e6, NULL},
	{"checkpoint", "nan_lr_factor", T_FLOAT, AT(nan_lr_factor), 1e-6, 1, NULL},
	{"checkpoint", "watchdog_seconds", T_FLOAT, AT(watchdog_seconds), 0, 1e6, NULL},
};
#define N_KEYS ((int)(sizeof(keys) / sizeof(keys[0])))

static const char *const sections[] = {"data",   "model",  "optimizer", "schedule",
					"loop",   "output", "checkpoint"};

void ax_config_defaults(struct ax_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->batch_size = 64;
	cfg->shuffle = 1;
	cfg->data_seed = 1;
	cfg->prefetch = 4;
	cfg->model_seed = 1;
	strcpy(cfg->optimizer, "adamw");
	cfg->lr = 1e-3f;
	cfg->beta1 = 0.9f;
	cfg->beta2 = 0.999f;
	cfg->eps = 1e-8f;
	cfg->weight_decay = 0.01f;
	strcpy(cfg->schedule, "constant");
	cfg->step_size = 1000;
	cfg->gamma = 0.1f;
	cfg->log_every = 100;
	strcpy(cfg->loss, "cross_entropy");
	cfg->min_delta = 0.0f;
	cfg->accumulate_steps = 1;
	strcpy(cfg->device, "auto");
	strcpy(cfg->grad_transport, "auto");
	strcpy(cfg->precision, "f32");
	cfg->ckpt_every_minutes = 10.0f;
	cfg->ckpt_keep_last = 3;
	cfg->nan_patience = 3;
	cfg->nan_lr_factor = 0.5f;
	cfg->watchdog_seconds = 600.0f;
}

/* ---- parsing one value ---- */

struct parse_ctx {
	struct ax_config *cfg;
	FILE *file;
	const char *where; /* file name, or "--set" */
	int line;
	enum ax_status status;
	int seen_line[sizeof(keys) / sizeof(keys[0])]; /* where the file gave each key; 0: not */
};

static enum ax_status fail_at(struct parse_ctx *p, const char *fmt, const char *a, const char *b,
			      const char *c)
{
	char message[700];

	snprintf(message, sizeof(message), fmt, a, b, c);
	if (p->line > 0)
		return AX_ERROR(AX_ERR_INVALID, "config %s:%d: %s", p->where, p->line, message);
	return AX_ERROR(AX_ERR_INVALID, "config %s: %s", p->where, message);
}

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
										"off", "0"};

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = 1, 1;
		if (strcasecmp(v, no[i]) == 0)
			return *out = 0, 1;
	}
	return 0;
}

static int parse_int(const char *v, int64_t *out)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno || end == v || *end)
		return 0;
	*out = x;
	return 1;
}

static int parse_float(const char *v, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	return !errno && end != v && !*end && isfinite(*out);
}

static int in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *c = choices;; c = strchr(c, '|') + 1) {
		const char *bar = strchr(c, '|');
		size_t len = bar ? (size_t)(bar - c) : strlen(c);

		if (len == n && strncmp(c, v, n) == 0)
			return 1;
		if (!bar)
			return 0;
	}
}

static enum ax_status set_key(struct parse_ctx *p, const struct key *k, const char *value)
{
	char *field = (char *)p->cfg + k->offset;
	char label[96], range[64];
	int64_t i;
	double d;
	int b;

	snprintf(label, sizeof(label), "[%s] %s", k->section, k->name);
	switch (k->type) {
	case T_PATH:
		if (strlen(value) >= k->size)
			return fail_at(p, "%s is too long (%s characters at most)", label, "1023", "");
		strcpy(field, value);
		return AX_OK;
	case T_CHOICE:
		if (!in_choices(k->choices, value))
			return fail_at(p, "%s = '%s' is not one of %s", label, value, k->choices);
		snprintf(field, k->size, "%s", value);
		return AX_OK;
	case T_BOOL:
		if (!parse_bool(value, &b))
			return fail_at(p, "%s = '%s' is not true or false", label, value, "");
		*(int *)field = b;
		return AX_OK;
	case T_INT:
		snprintf(range, sizeof(range), "%.0f to %.3g", k->min, k->max);
		if (!parse_int(value, &i) || i < k->min || (double)i > k->max)
			return fail_at(p, "%s = '%s' is not a whole number from %s", label, value, range);
		if (k->size == sizeof(int))
			*(int *)field = (int)i;
		else
			*(int64_t *)field = i;
		return AX_OK;
	case T_FLOAT:
		snprintf(range, sizeof(range), "%g to %g", k->min, k->max);
		if (!parse_float(value, &d) || d < k->min || d > k->max)
			return fail_at(p, "%s = '%s' is not a number from %s", label, value, range);
		*(float *)field = (float)d;
		return AX_OK;
	}
	return AX_ERR_INTERNAL;
}

/* ---- [model]: NAME = KIND [positional] [key=value ...] ---- */

static enum ax_status layer_arg(struct parse_ctx *p, struct ax_layer_spec *L, const char *key,
				const char *v)
{
	int64_t i;
	double d;
	int b;

	if (strcmp(key, "out") == 0 && L->kind == AX_LAYER_LINEAR && parse_int(v, &i) && i > 0)
		L->out_features = i;
	else if (strcmp(key, "bias") == 0 && L->kind == AX_LAYER_LINEAR && parse_bool(v, &b))
		L->bias = b;
	else if (strcmp(key, "init") == 0 && L->kind == AX_LAYER_LINEAR && ax_init_kind_parse(v) >= 0)
		L->init = (enum ax_init_kind)ax_init_kind_parse(v);
	else if (strcmp(key, "p") == 0 && L->kind == AX_LAYER_DROPOUT && parse_float(v, &d) &&
		 d >= 0 && d < 1)
		L->p = (float)d;
	else if (strcmp(key, "slope") == 0 && L->kind == AX_LAYER_LEAKY_RELU && parse_float(v, &d))
		L->slope = (float)d;
	else if (strcmp(key, "form") == 0 && L->kind == AX_LAYER_GELU &&
		 (strcmp(v, "erf") == 0 || strcmp(v, "tanh") == 0))
		L->gelu_form = strcmp(v, "tanh") == 0 ? AX_GELU_TANH : AX_GELU_ERF;
	else if (strcmp(key, "eps") == 0 && L->kind == AX_LAYER_LAYER_NORM && parse_float(v, &d) &&
		 d > 0)
		L->eps = (float)d;
	else if (strcmp(key, "affine") == 0 && L->kind == AX_LAYER_LAYER_NORM && parse_bool(v, &b))
		L->affine = b;
	else if (strcmp(key, "num") == 0 && L->kind == AX_LAYER_EMBEDDING && parse_int(v, &i) && i > 0)
		L->num_embeddings = i;
	else if (strcmp(key, "dim") == 0 && L->kind == AX_LAYER_EMBEDDING && parse_int(v, &i) && i > 0)
		L->embedding_dim = i;
	else if (strcmp(key, "residual") == 0 && L->kind == AX_LAYER_ADD && strlen(v) < AX_LAYER_NAME_MAX)
		strcpy(L->residual, v);
	else if (strcmp(key, "input") == 0 && strlen(v) < AX_LAYER_NAME_MAX)
		strcpy(L->input, v);
	else if (strcmp(key, "frozen") == 0 && parse_bool(v, &b))
		L->frozen = b;
	else
		return fail_at(p, "layer %s: '%s=%s' is not a valid argument for this layer kind (see "
			       "docs/config.md)", L->name, key, v);
	return AX_OK;
}

/* The positional argument each kind takes: "linear 256", "dropout 0.2", ... */
static const char *positional_key(enum ax_layer_kind kind, int index)
{
	switch (kind) {
	case AX_LAYER_LINEAR: return index == 0 ? "out" : NULL;
	case AX_LAYER_DROPOUT: return index == 0 ? "p" : NULL;
	case AX_LAYER_LEAKY_RELU: return index == 0 ? "slope" : NULL;
	case AX_LAYER_GELU: return index == 0 ? "form" : NULL;
	case AX_LAYER_LAYER_NORM: return index == 0 ? "eps" : NULL;
	case AX_LAYER_EMBEDDING: return index == 0 ? "num" : index == 1 ? "dim" : NULL;
	case AX_LAYER_ADD: return index == 0 ? "residual" : NULL;
	default: return NULL;
	}
}

static enum ax_status set_layer(struct parse_ctx *p, const char *name, const char *value)
{
	struct ax_config *cfg = p->cfg;
	struct ax_layer_spec *L = NULL;
	char buf[512], *save = NULL, *tok;
	int kind, positional = 0, slot;
	enum ax_status st = AX_OK;

	if (strlen(name) >= AX_LAYER_NAME_MAX)
		return fail_at(p, "layer name '%s' is too long", name, "", "");
	if (strlen(value) >= sizeof(buf))
		return fail_at(p, "layer %s: the line is too long", name, "", "");
	strcpy(buf, value);
	tok = strtok_r(buf, " \t", &save);
	kind = tok ? ax_layer_kind_parse(tok) : -1;
	if (kind < 0)
		return fail_at(p, "layer %s: unknown kind '%s' (linear, flatten, relu, leaky_relu, gelu, "
			       "sigmoid, tanh, dropout, layer_norm, embedding, add)", name,
			       tok ? tok : "", "");
	/* Redefining a layer (from --set) replaces it in place. */
	for (slot = 0; slot < cfg->n_layers; slot++)
		if (strcmp(cfg->layers[slot].name, name) == 0)
			break;
	if (slot == cfg->n_layers) {
		if (cfg->n_layers == AX_CONFIG_MAX_LAYERS)
			return fail_at(p, "more than %s layers", "64", "", "");
		cfg->n_layers++;
	} else if (p->line > 0) {
		return fail_at(p, "layer %s is defined twice in [model]", name, "", "");
	}
	L = &cfg->layers[slot];
	ax_layer_spec_default(L, (enum ax_layer_kind)kind, name);
	while (!st && (tok = strtok_r(NULL, " \t", &save))) {
		char *eq = strchr(tok, '=');

		if (eq) {
			*eq = '\0';
			st = layer_arg(p, L, tok, eq + 1);
		} else {
			const char *key = positional_key(L->kind, positional++);

			if (!key)
				return fail_at(p, "layer %s: unexpected argument '%s'", name, tok, "");
			st = layer_arg(p, L, key, tok);
		}
	}
	if (!st && L->kind == AX_LAYER_LINEAR && L->out_features < 1)
		st = fail_at(p, "layer %s: linear needs its output width, e.g. '%s = linear 256'", name,
			     name, "");
	if (!st && L->kind == AX_LAYER_EMBEDDING && (L->num_embeddings < 1 || L->embedding_dim < 1))
		st = fail_at(p, "layer %s: embedding needs 'num=VOCAB dim=WIDTH'", name, "", "");
	if (!st && L->kind == AX_LAYER_ADD && !L->residual[0])
		st = fail_at(p, "layer %s: add needs the layer to add, e.g. 'add residual=fc1'", name,
			     "", "");
	return st;
}

/* ---- the handler ---- */

static int known_section(const char *section)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcmp(sections[i], section) == 0)
			return 1;
	return 0;
}

static void known_keys(const char *section, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int k = 0; k < N_KEYS && used < len; k++)
		if (strcmp(keys[k].section, section) == 0)
			used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "",
						 keys[k].name);
}

static enum ax_status set_value(struct parse_ctx *p, const char *section, const char *name,
				const char *value)
{
	char hint[400];

	if (!known_section(section))
		return fail_at(p, "unknown section [%s] (sections: data, model, optimizer, schedule, "
			       "loop, output, checkpoint)", section, "", "");
	for (int k = 0; k < N_KEYS; k++) {
		if (strcmp(keys[k].section, section) || strcmp(keys[k].name, name))
			continue;
		if (p->line > 0 && p->seen_line[k])
			return fail_at(p, "[%s] %s is given twice", section, name, "");
		if (p->line > 0)
			p->seen_line[k] = p->line;
		return set_key(p, &keys[k], value);
	}
	if (strcmp(section, "model") == 0)
		return set_layer(p, name, value);
	known_keys(section, hint, sizeof(hint));
	return fail_at(p, "unknown key '%s' in [%s] (known: %s)", name, section, hint);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;

	if (p->status)
		return 1; /* keep the first error */
	p->status = set_value(p, section, name, value);
	return 1;
}

/* libinih hands the reader a buffer of `num` bytes: a longer line would come
 * back in pieces, each parsed as a line of its own (a path cut short, the rest
 * a syntax error on a line number that does not exist). The rest of a long
 * line is skipped here instead; a long comment is harmless, any other long
 * line is an error naming it. */
static char *counting_reader(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	char *line = fgets(str, num, p->file);
	size_t len = line ? strlen(line) : 0;
	int c;

	if (!line)
		return NULL;
	p->line++;
	if (len == 0 || line[len - 1] == '\n' || (c = fgetc(p->file)) == EOF || c == '\n')
		return line;
	while (c != EOF && c != '\n')
		c = fgetc(p->file);
	if (line[strspn(line, " \t")] != ';' && line[strspn(line, " \t")] != '#' && !p->status) {
		char limit[16];

		snprintf(limit, sizeof(limit), "%d", num - 2);
		p->status = fail_at(p, "the line is too long (%s characters at most); give a long "
				    "path with --set section.key=PATH instead%s%s", limit, "", "");
	}
	return line;
}

/* ---- consistency ---- */

/* The line the file gave `section` `name` on; 0 when it did not (a default or --set). */
static int line_of(const struct parse_ctx *p, const char *section, const char *name)
{
	for (int k = 0; k < N_KEYS; k++)
		if (strcmp(keys[k].section, section) == 0 && strcmp(keys[k].name, name) == 0)
			return p->seen_line[k];
	return 0;
}

static enum ax_status check(struct parse_ctx *p)
{
	struct ax_config *c = p->cfg;

	p->line = 0;
	if (!c->train[0])
		return fail_at(p, "[data] train is required: the training dataset directory%s%s%s", "",
			       "", "");
	if (c->n_layers == 0)
		return fail_at(p, "[model] lists no layers; add lines like 'fc1 = linear 256'%s%s%s", "",
			       "", "");
	if (c->epochs == 0 && c->steps == 0)
		return fail_at(p, "[loop] needs epochs or steps%s%s%s", "", "", "");
	/* These point at the line of the key that asks for what is missing. */
	p->line = line_of(p, "optimizer", "nesterov");
	if (c->nesterov && c->momentum <= 0)
		return fail_at(p, "[optimizer] nesterov needs momentum > 0%s%s%s", "", "", "");
	p->line = line_of(p, "loop", "early_stopping_metric");
	if (c->early_stopping_metric[0] && !c->val[0])
		return fail_at(p, "[loop] early_stopping_metric needs [data] val%s%s%s", "", "", "");
	p->line = line_of(p, "loop", "precision");
	if (strcmp(c->precision, "bf16") == 0 && strcmp(c->device, "cpu") == 0)
		return fail_at(p, "[loop] precision = bf16 runs on GPUs only; use device = cuda (or "
			       "auto) or precision = f32%s%s%s", "", "", "");
	p->line = line_of(p, "loop", "label_smoothing");
	if (strcmp(c->loss, "mse") == 0 && c->label_smoothing > 0)
		return fail_at(p, "[loop] label_smoothing applies to cross_entropy only%s%s%s", "", "",
			       "");
	return AX_OK;
}

enum ax_status ax_config_load(struct ax_config *cfg, const char *path, int n_overrides,
			      char *const *overrides)
{
	struct parse_ctx p;
	int rc;

	ax_config_defaults(cfg);
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.where = path;
	snprintf(cfg->source, sizeof(cfg->source), "%s", path);
	p.file = fopen(path, "r");
	if (!p.file)
		return AX_ERROR(AX_ERR_IO, "config %s: cannot open it: %s", path, strerror(errno));
	rc = ini_parse_stream(counting_reader, &p, handler, &p);
	fclose(p.file);
	if (p.status)
		return p.status;
	if (rc > 0)
		return AX_ERROR(AX_ERR_INVALID, "config %s:%d: not valid INI syntax (expected "
				"'[section]' or 'key = value')", path, rc);
	if (rc < 0)
		return AX_ERROR(AX_ERR_IO, "config %s: cannot read it", path);
	p.where = "--set";
	for (int i = 0; i < n_overrides; i++) {
		char buf[1200], *dot, *eq;

		p.line = 0;
		snprintf(buf, sizeof(buf), "%s", overrides[i]);
		dot = strchr(buf, '.');
		eq = strchr(buf, '=');
		if (!dot || !eq || dot > eq)
			return AX_ERROR(AX_ERR_INVALID, "--set %s: expected section.key=value, e.g. "
					"--set optimizer.lr=3e-4", overrides[i]);
		*dot = '\0';
		*eq = '\0';
		p.status = set_value(&p, buf, dot + 1, eq + 1);
		if (p.status)
			return p.status;
	}
	p.where = path;
	return check(&p);
}

/* ---- writing the resolved config ---- */

static void write_layer(const struct ax_layer_spec *L, FILE *out)
{
	fprintf(out, "%s = %s", L->name, ax_layer_kind_name(L->kind));
	switch (L->kind) {
	case AX_LAYER_LINEAR:
		fprintf(out, " %lld bias=%s init=%s", (long long)L->out_features,
			L->bias ? "true" : "false", ax_init_kind_name(L->init));
		break;
	case AX_LAYER_DROPOUT: fprintf(out, " %.9g", L->p); break;
	case AX_LAYER_LEAKY_RELU: fprintf(out, " %.9g", L->slope); break;
	case AX_LAYER_GELU: fprintf(out, " %s", L->gelu_form == AX_GELU_TANH ? "tanh" : "erf"); break;
	case AX_LAYER_LAYER_NORM:
		fprintf(out, " %.9g affine=%s", L->eps, L->affine ? "true" : "false");
		break;
	case AX_LAYER_EMBEDDING:
		fprintf(out, " %lld %lld", (long long)L->num_embeddings, (long long)L->embedding_dim);
		break;
	case AX_LAYER_ADD: fprintf(out, " %s", L->residual); break;
	default: break;
	}
	if (L->input[0])
		fprintf(out, " input=%s", L->input);
	if (L->frozen)
		fprintf(out, " frozen=true");
	fputc('\n', out);
}

void ax_config_write(const struct ax_config *cfg, FILE *out)
{
	fprintf(out, "# resolved from %s by axon %s\n", cfg->source, ax_version());
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
		fprintf(out, "\n[%s]\n", sections[s]);
		for (int k = 0; k < N_KEYS; k++) {
			const struct key *key = &keys[k];
			const char *field = (const char *)cfg + key->offset;

			if (strcmp(key->section, sections[s]))
				continue;
			fprintf(out, "%s = ", key->name);
			switch (key->type) {
			case T_PATH:
			case T_CHOICE: fprintf(out, "%s\n", field); break;
			case T_BOOL: fprintf(out, "%s\n", *(const int *)field ? "true" : "false"); break;
			case T_INT:
				fprintf(out, "%lld\n", key->size == sizeof(int) ? (long long)*(const int *)field
									   : (long long)*(const int64_t *)field);
				break;
			case T_FLOAT: fprintf(out, "%.9g\n", *(const float *)field); break;
			}
		}
		if (strcmp(sections[s], "model") == 0)
			for (int i = 0; i < cfg->n_layers; i++)
				write_layer(&cfg->layers[i], out);
	}
}

uint64_t ax_config_hash(const struct ax_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	uint64_t h = 0xcbf29ce484222325ULL;
	FILE *mem = open_memstream(&text, &len);

	if (!mem)
		return 0;
	ax_config_write(cfg, mem);
	fclose(mem);
	/* Skip the first line: it names the source file, which may differ. */
	for (size_t i = text ? strcspn(text, "\n") : 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 0x100000001b3ULL;
	}
	free(text);
	return h;
}
