#include "stop_signals.h"

#include <pthread.h>
#include <signal.h>

namespace mash {

namespace {
sigset_t stop_set() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  return s;
}
}  // namespace

void hold_stop_signals() {
  sigset_t s = stop_set();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

void release_stop_signals() {
  sigset_t s = stop_set();
  pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
}

}  // namespace mash
