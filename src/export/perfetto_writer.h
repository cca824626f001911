// A streaming writer of Perfetto's trace format (TrackEvent, as ui.perfetto.dev and
// trace_processor read it): process, thread and counter tracks, slices, instants and counter
// values on one packet sequence, with interned names and delta-encoded timestamps (a launch costs
// ~25 bytes). Memory stays bounded by what is open (tracks, interned strings, unfinished slices),
// not by the events written: packets go to the sink as they are made. The messages and field
// numbers written are Perfetto's; src/export/perfetto_trace.proto keeps the subset.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace scope::perfetto {

// A protobuf message being encoded (the wire format, no schema).
class ProtoMessage {
 public:
  void varint(uint32_t field, uint64_t value);
  void boolean(uint32_t field, bool value) { varint(field, value ? 1 : 0); }
  void bytes(uint32_t field, std::string_view value);
  void message(uint32_t field, const ProtoMessage& m) { bytes(field, m.data_); }
  const std::string& data() const { return data_; }
  bool empty() const { return data_.empty(); }
  void clear() { data_.clear(); }

 private:
  void raw_varint(uint64_t value);
  std::string data_;
};

// A debug annotation of an event ("args" in the UI).
struct Arg {
  enum class Kind { kInt, kText, kLabel, kPointer, kBool };
  Kind kind = Kind::kInt;
  std::string_view name;
  int64_t number = 0;
  std::string_view text;

  static Arg integer(std::string_view name, int64_t v) { return {Kind::kInt, name, v, {}}; }
  // Text written as is (paths, command lines).
  static Arg text_value(std::string_view name, std::string_view v) {
    return {Kind::kText, name, 0, v};
  }
  // Text from a small set (phases, copy kinds, launch configurations): interned, written once.
  static Arg label(std::string_view name, std::string_view v) { return {Kind::kLabel, name, 0, v}; }
  static Arg pointer(std::string_view name, int64_t v) { return {Kind::kPointer, name, v, {}}; }
  static Arg flag(std::string_view name, bool v) { return {Kind::kBool, name, v ? 1 : 0, {}}; }
};

enum class CounterUnit { kNone = 0, kTimeNs = 1, kCount = 2, kBytes = 3 };

struct WriterStats {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t slices = 0;
  uint64_t instants = 0;
  uint64_t counter_values = 0;
  uint64_t tracks = 0;
  uint64_t clamped = 0;  // slices cut to end within the slice they began in (see slice())
};

class TraceWriter {
 public:
  // Receives the file's bytes in order, in pieces of about `chunk_bytes`; false stops the
  // writer (ok() turns false and the rest is dropped).
  using Sink = std::function<bool(std::string_view)>;
  explicit TraceWriter(Sink sink, size_t chunk_bytes = 1 << 20);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Tracks: each call writes a descriptor and returns its uuid. Describing a uuid again (a
  // process that exec'd: new name and command line) updates it.
  uint64_t new_uuid() { return ++last_uuid_; }
  // `ts`: when the track is first needed (the descriptor is written then).
  void describe_process(uint64_t uuid, int64_t ts, uint32_t pid, std::string_view name,
                        const std::vector<std::string>& cmdline);
  void describe_thread(uint64_t uuid, int64_t ts, uint32_t pid, uint32_t tid,
                       std::string_view name);
  void describe_track(uint64_t uuid, int64_t ts, uint64_t parent, std::string_view name);
  void describe_counter(uint64_t uuid, int64_t ts, uint64_t parent, std::string_view name,
                        CounterUnit unit);

  // Events, Unix ns. Written in time order they cost least; out of order (a live trace's late
  // events) they carry an absolute time. A slice's end is written when the trace reaches it; a
  // slice that would end after the slice it began in on the same track ends with it (Perfetto
  // needs slices on a track nested) and is counted in stats().clamped.
  void slice(uint64_t track, int64_t ts, int64_t duration, std::string_view name,
             const std::vector<Arg>& args = {});
  void instant(uint64_t track, int64_t ts, std::string_view name,
               const std::vector<Arg>& args = {});
  void counter(uint64_t track, int64_t ts, int64_t value);

  // Ends every open slice and hands the rest to the sink.
  void finish();
  bool ok() const { return ok_; }
  const WriterStats& stats() const { return stats_; }

 private:
  struct PendingEnd {
    int64_t ts;
    uint64_t order;  // later-begun slices end first at the same time: they are the inner ones
    uint64_t track;
    bool operator>(const PendingEnd& o) const { return ts != o.ts ? ts > o.ts : order < o.order; }
  };

  void start_sequence(int64_t ts);
  void end_slices_until(int64_t ts);
  void begin_event(int64_t ts);
  uint64_t intern(std::unordered_map<std::string, uint64_t>& table, uint32_t interned_field,
                  std::string_view value);
  void add_args(const std::vector<Arg>& args);
  void write_packet(int64_t ts, uint32_t field, const ProtoMessage& payload);
  void emit(const ProtoMessage& packet);

  Sink sink_;
  size_t chunk_bytes_;
  std::string out_;
  bool ok_ = true;
  bool started_ = false;
  int64_t last_ts_ = 0;  // the sequence's clock: timestamps are deltas from it
  uint64_t last_uuid_ = 0;
  uint64_t slice_order_ = 0;
  std::unordered_map<std::string, uint64_t> event_names_, arg_names_, labels_;
  std::priority_queue<PendingEnd, std::vector<PendingEnd>, std::greater<>> ends_;
  std::unordered_map<uint64_t, std::vector<int64_t>> open_;  // per track, ends of open slices
  ProtoMessage event_, interned_, packet_, scratch_, wrapper_;
  WriterStats stats_;
};

}  // namespace scope::perfetto
