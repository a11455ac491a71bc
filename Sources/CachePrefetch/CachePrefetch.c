// The module is its header (include/CachePrefetch.h); SwiftPM needs one source file per C target.
#include "CachePrefetch.h"
