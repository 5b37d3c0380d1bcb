/* ckpt_internal.h - what the checkpoint files share (not installed). */
#ifndef AXON_CKPT_INTERNAL_H
#define AXON_CKPT_INTERNAL_H

/* ax_ckpt_remove_tree - delete a file or a directory and everything in it. */
void ax_ckpt_remove_tree(const char *path);

#endif
