// NatBehavior travels on the wire (registration, peer-info), so it lives in src/wire.
#pragma once
#include "wire/nat_behavior.h"
