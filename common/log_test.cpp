#include "log.h"

#include <catch2/catch.hpp>

#include <sstream>

using namespace mash;

TEST_CASE("log lines are one line with key=value fields, quoting where needed", "[log]") {
  auto line = format_log_line("T", LogLevel::kWarn, "broker.link", "agent-connected",
                              {{"agency", "police"}, {"reason", "peer closed\nthe \"link\""}, {"n", 3}});
  CHECK(line == "T WARN broker.link agent-connected agency=police reason=\"peer closed\\nthe \\\"link\\\"\" n=3");
  CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("the logger drops lines below its level", "[log]") {
  std::ostringstream out;
  Logger log(out, LogLevel::kInfo, "agent");
  log.debug("hidden");
  log.info("shown", {{"k", "v"}});
  log.child("link").error("child-line");
  auto text = out.str();
  CHECK(text.find("hidden") == std::string::npos);
  CHECK(text.find("INFO agent shown k=v") != std::string::npos);
  CHECK(text.find("ERROR agent.link child-line") != std::string::npos);
  LogLevel level;
  CHECK(parse_log_level("warn", &level));
  CHECK(level == LogLevel::kWarn);
  CHECK_FALSE(parse_log_level("verbose", &level));
}

TEST_CASE("JSON log lines: one object a line, every value a string, reserved keys kept", "[log]") {
  auto line = format_log_json("T", LogLevel::kWarn, "broker.link", "agent-connected",
                              {{"agency", "police"}, {"reason", "peer \"closed\"\n\x01"}, {"n", 3}, {"event", "spoof"}});
  CHECK(line == "{\"time\":\"T\",\"level\":\"warn\",\"component\":\"broker.link\",\"event\":\"agent-connected\","
                "\"agency\":\"police\",\"reason\":\"peer \\\"closed\\\"\\n\\u0001\",\"n\":\"3\"}");
  std::ostringstream out;
  Logger log(out, LogLevel::kInfo, "agent", LogFormat::kJson);
  log.child("link").info("connected", {{"k", "v"}});
  CHECK(out.str().find("\"component\":\"agent.link\",\"event\":\"connected\",\"k\":\"v\"}\n") != std::string::npos);
  LogFormat f;
  CHECK(parse_log_format("json", &f));
  CHECK(f == LogFormat::kJson);
  CHECK_FALSE(parse_log_format("xml", &f));
}
