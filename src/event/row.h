// One event as the pipeline carries it from the agent to a store: the common
// columns typed, the family's own columns as values in schema order.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "event/cuda_event.h"
#include "event/schema.h"

namespace scope::event {

// NULL, an integer or text.
using Value = std::variant<std::monostate, int64_t, std::string>;

struct EventRow {
  uint8_t family = 0;  // FamilySchema::id
  int64_t ts_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string comm;
  std::vector<Value> values;  // one per schema column

  bool operator==(const EventRow&) const = default;
};

// A cuda event as a row (the agent's hot path: no JSON in between).
EventRow row_from_cuda(const CudaEvent& e);
// A family's JSON event (its `event` key names the family) as a row. Keys the
// schema does not know are left out; arrays and objects become JSON text.
Result<EventRow> row_from_json(const nlohmann::json& event);

}  // namespace scope::event
