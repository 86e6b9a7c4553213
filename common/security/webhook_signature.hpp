#pragma once
// Forwarding header, only for daemon/api.cpp (constant_time_equal), which is being split into
// daemon/api/ on another branch: include common/security/crypto.hpp there and delete this file.
// Webhook verification itself lives with each provider (daemon/webhook/github.cpp, gitlab.cpp).

#include "common/security/crypto.hpp"
