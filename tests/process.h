// A child process for end-to-end tests: started with posix_spawn, stdout and stderr going to a
// log file the test can read, stopped (SIGTERM, then SIGKILL) when the object goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace mash::testing {

class Process {
 public:
  Process(std::vector<std::string> argv, std::filesystem::path log_file);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void signal(int sig);
  // Waits for exit; returns the exit status, or -1 on timeout (the process is left running).
  int wait(std::chrono::milliseconds timeout);
  bool running();
  std::string log() const;
  // Waits until the log contains `text` `times` times.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout, int times = 1) const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::filesystem::path log_file_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t free_port();

int count_occurrences(const std::string& haystack, const std::string& needle);

}  // namespace mash::testing
