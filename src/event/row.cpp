#include "event/row.h"

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/text.h"

namespace scope::event {

namespace {

std::string dims_text(const std::array<uint32_t, 3>& d) {
  return sfmt("[%u,%u,%u]", d[0], d[1], d[2]);
}

// Column indexes of the cuda schema, looked up once.
struct CudaColumns {
  int call, op, ret, duration_ns, kernel, grid, block, shared_mem, stream, handle, ptr, bytes, kind,
      mem, async;
  CudaColumns() {
    const auto& s = *schema_for("cuda");
    call = s.column_index("call");
    op = s.column_index("op");
    ret = s.column_index("ret");
    duration_ns = s.column_index("duration_ns");
    kernel = s.column_index("kernel");
    grid = s.column_index("grid");
    block = s.column_index("block");
    shared_mem = s.column_index("shared_mem");
    stream = s.column_index("stream");
    handle = s.column_index("handle");
    ptr = s.column_index("ptr");
    bytes = s.column_index("bytes");
    kind = s.column_index("kind");
    mem = s.column_index("mem");
    async = s.column_index("async");
  }
};

int64_t as_int(uint64_t v) { return static_cast<int64_t>(v); }

}  // namespace

EventRow row_from_cuda(const CudaEvent& e) {
  static const CudaColumns c;
  static const size_t n = schema_for("cuda")->columns.size();
  EventRow r;
  r.family = schema_for("cuda")->id;
  r.ts_ns = as_int(e.ts_ns);
  r.pid = e.pid;
  r.tid = e.tid;
  r.comm = e.comm;
  r.values.resize(n);
  r.values[c.call] = std::string(cuda_call_name(e.call));
  r.values[c.op] = std::string(cuda_op_name(e.op));
  if (e.ret) r.values[c.ret] = int64_t{*e.ret};
  if (e.duration_ns) r.values[c.duration_ns] = as_int(*e.duration_ns);
  switch (e.op) {
    case CUDA_OP_LAUNCH:
      if (!e.kernel.empty()) r.values[c.kernel] = e.kernel;
      r.values[c.grid] = dims_text(e.grid);
      r.values[c.block] = dims_text(e.block);
      r.values[c.shared_mem] = int64_t{e.shared_mem};
      r.values[c.stream] = as_int(e.stream);
      r.values[c.handle] = as_int(e.handle);
      break;
    case CUDA_OP_ALLOC:
    case CUDA_OP_FREE:
      r.values[c.ptr] = as_int(e.ptr);
      if (e.op == CUDA_OP_ALLOC) r.values[c.bytes] = as_int(e.bytes);
      r.values[c.mem] = std::string(cuda_mem_name(e.mem));
      break;
    case CUDA_OP_MEMCPY:
      r.values[c.bytes] = as_int(e.bytes);
      r.values[c.kind] = std::string(cuda_copy_kind_name(e.kind));
      r.values[c.async] = int64_t{e.async};
      break;
    case CUDA_OP_MEMSET:
      r.values[c.bytes] = as_int(e.bytes);
      r.values[c.ptr] = as_int(e.ptr);
      r.values[c.async] = int64_t{e.async};
      break;
    case CUDA_OP_GRAPH_LAUNCH:
      r.values[c.stream] = as_int(e.stream);
      r.values[c.handle] = as_int(e.handle);
      break;
    default:
      break;
  }
  return r;
}

Result<EventRow> row_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("event") || !j["event"].is_string())
    return make_error("an event needs an \"event\" key naming its family");
  const std::string& name = j["event"].get_ref<const std::string&>();
  const FamilySchema* s = schema_for(name);
  if (!s) return make_error("unknown event family '" + name + "'");
  EventRow r;
  r.family = s->id;
  auto int_of = [&](const char* key) -> int64_t {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return 0;
    return it->is_number_unsigned() ? static_cast<int64_t>(it->get<uint64_t>())
                                    : it->get<int64_t>();
  };
  r.ts_ns = int_of("ts_ns");
  r.pid = static_cast<uint32_t>(int_of("pid"));
  r.tid = static_cast<uint32_t>(int_of("tid"));
  if (auto it = j.find("comm"); it != j.end() && it->is_string()) r.comm = it->get<std::string>();
  r.values.resize(s->columns.size());
  for (size_t i = 0; i < s->columns.size(); ++i) {
    auto it = j.find(s->columns[i].name);
    if (it == j.end() || it->is_null()) continue;
    Value& v = r.values[i];
    if (s->columns[i].type == ColumnType::kInt) {
      if (it->is_boolean())
        v = int64_t{it->get<bool>()};
      else if (it->is_number_unsigned())
        v = static_cast<int64_t>(it->get<uint64_t>());
      else if (it->is_number_integer())
        v = it->get<int64_t>();
      else if (it->is_number_float())
        v = static_cast<int64_t>(it->get<double>());
      else if (it->is_string()) {  // "0x..." pointers
        const auto& str = it->get_ref<const std::string&>();
        char* end = nullptr;
        errno = 0;
        uint64_t parsed = std::strtoull(str.c_str(), &end, 0);
        if (errno == 0 && end && *end == '\0' && !str.empty()) v = static_cast<int64_t>(parsed);
      }
    } else {
      v = it->is_string() ? it->get<std::string>()
                          : it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  // exits live in exec_events, told apart by call.
  if (name == "exit") r.values[s->column_index("call")] = std::string("exit");
  return r;
}

}  // namespace scope::event
