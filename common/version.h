// The software version, reported in Hello messages and --version.
#pragma once
#define MASH_VERSION "0.1.0"
