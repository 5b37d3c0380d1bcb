/* axon/axon.h - everything the library offers, in one include. */
#ifndef AXON_AXON_H
#define AXON_AXON_H

#include "axon/alloc.h"
#include "axon/ctx.h"
#include "axon/device.h"
#include "axon/init.h"
#include "axon/metrics.h"
#include "axon/model.h"
#include "axon/ops.h"
#include "axon/optim.h"
#include "axon/params.h"
#include "axon/rng.h"
#include "axon/schedule.h"
#include "axon/status.h"
#include "axon/tensor.h"
#include "axon/version.h"

#endif
