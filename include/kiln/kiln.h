// Umbrella header: the whole public C++ API.
#pragma once

#include "kiln/builder.h"
#include "kiln/device.h"
#include "kiln/engine.h"
#include "kiln/error.h"
#include "kiln/logger.h"
#include "kiln/network.h"
#include "kiln/onnx_parser.h"
#include "kiln/runtime.h"
#include "kiln/types.h"
#include "kiln/version.h"
