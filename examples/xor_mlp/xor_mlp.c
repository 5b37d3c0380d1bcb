/* PLACEHOLDER until the ops land. */
#include <stdio.h>
#include "axon/axon.h"
int main(void) { printf("axon %s\n", ax_version()); return 0; }
