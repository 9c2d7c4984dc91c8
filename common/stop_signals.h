// A stop asked for during a server's start-up (SIGINT, SIGTERM: systemd, an operator, a test) is
// held until the server's own handler is in place, then acted on: it is never lost, and never
// kills the process with its default action half-way through opening its stores.
//
//   hold_stop_signals();      // first thing on the server's path, before any thread starts
//   ... open stores, start threads, install the asio signal_set ...
//   release_stop_signals();   // a signal that came meanwhile is delivered now, to the handler
//
// Threads inherit the held mask, so the signal is taken by the thread that released it.
#pragma once

namespace mash {

void hold_stop_signals();
void release_stop_signals();

}  // namespace mash
