#include "families/family.h"

#include "families/open_family.h"

namespace scope::families {

void LoaderContext::read() const {
  if (read_) return;
  read_ = true;
  if (auto env = discover::read_environ(static_cast<int>(pid_))) environ_ = std::move(*env);
  if (auto exe = discover::read_exe(static_cast<int>(pid_))) {
    exe_seen_ = *exe;
    exe_ = "/proc/" + std::to_string(pid_) + "/exe";
  }
}

const std::vector<std::string>& LoaderContext::environ() const {
  read();
  return environ_;
}

const std::string& LoaderContext::exe() const {
  read();
  return exe_;
}

const std::string& LoaderContext::exe_as_seen() const {
  read();
  return exe_seen_;
}

nlohmann::json event_json(const event::EventRow& row) {
  nlohmann::json j = event::row_json(row);
  if (event::schemas().at(row.family).family == "open") decorate_open_json(j);
  return j;
}

}  // namespace scope::families
