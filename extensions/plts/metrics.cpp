#include "extensions/plts/metrics.h"

namespace plts {

Metrics metrics;

}  // namespace plts
