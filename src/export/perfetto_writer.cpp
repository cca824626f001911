#include "export/perfetto_writer.h"

#include <algorithm>

namespace scope::perfetto {

namespace {

// Field numbers: Perfetto's (src/export/perfetto_trace.proto).
constexpr uint32_t kTracePacket = 1;
namespace packet {
constexpr uint32_t kClockSnapshot = 6;
constexpr uint32_t kTimestamp = 8;
constexpr uint32_t kSequenceId = 10;
constexpr uint32_t kTrackEvent = 11;
constexpr uint32_t kInternedData = 12;
constexpr uint32_t kSequenceFlags = 13;
constexpr uint32_t kTimestampClockId = 58;
constexpr uint32_t kDefaults = 59;
constexpr uint32_t kTrackDescriptor = 60;
}  // namespace packet
namespace event {
constexpr uint32_t kDebugAnnotations = 4;
constexpr uint32_t kType = 9;
constexpr uint32_t kNameIid = 10;
constexpr uint32_t kTrackUuid = 11;
constexpr uint32_t kCounterValue = 30;
constexpr uint64_t kSliceBegin = 1, kSliceEnd = 2, kInstant = 3, kCounter = 4;
}  // namespace event
namespace interned {
constexpr uint32_t kEventNames = 2;
constexpr uint32_t kArgNames = 3;
constexpr uint32_t kArgStrings = 29;
}  // namespace interned
namespace arg {
constexpr uint32_t kNameIid = 1, kBool = 2, kInt = 4, kString = 6, kPointer = 7, kStringIid = 17;
}

constexpr uint64_t kSeqIncrementalStateCleared = 1;
constexpr uint64_t kSeqNeedsIncrementalState = 2;
constexpr uint64_t kClockRealtime = 1;
constexpr uint64_t kClockBoottime = 6;
// A clock of this sequence alone (ids 64-127 are sequence-scoped) whose timestamps are deltas
// from the previous packet's, as Perfetto's SDK writes them: a few bytes an event, not nine.
constexpr uint64_t kClockIncremental = 64;
// Any sequence id: a file holds one writer.
constexpr uint64_t kSequence = 1;

}  // namespace

void ProtoMessage::raw_varint(uint64_t value) {
  while (value >= 0x80) {
    data_.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  data_.push_back(static_cast<char>(value));
}

void ProtoMessage::varint(uint32_t field, uint64_t value) {
  raw_varint(static_cast<uint64_t>(field) << 3);
  raw_varint(value);
}

void ProtoMessage::bytes(uint32_t field, std::string_view value) {
  raw_varint((static_cast<uint64_t>(field) << 3) | 2);
  raw_varint(value.size());
  data_.append(value);
}

TraceWriter::TraceWriter(Sink sink, size_t chunk_bytes)
    : sink_(std::move(sink)), chunk_bytes_(chunk_bytes) {}

TraceWriter::~TraceWriter() = default;

// The sequence's first packet: its interning starts empty, its timestamps are deltas on the
// incremental clock, and that clock, boot time and wall time all read `ts` now. Scope's times
// are Unix times: the trace's clock (boot time) carries them as they are.
void TraceWriter::start_sequence(int64_t ts) {
  started_ = true;
  last_ts_ = ts;
  ProtoMessage defaults, snapshot, clock;
  defaults.varint(packet::kTimestampClockId, kClockIncremental);
  for (uint64_t id : {kClockBoottime, kClockRealtime, kClockIncremental}) {
    clock.clear();
    clock.varint(1, id);
    clock.varint(2, static_cast<uint64_t>(ts));
    if (id == kClockIncremental) clock.boolean(3, true);
    snapshot.message(1, clock);
  }
  packet_.clear();
  packet_.varint(packet::kTimestamp, 0);
  packet_.varint(packet::kSequenceId, kSequence);
  packet_.varint(packet::kSequenceFlags, kSeqIncrementalStateCleared);
  packet_.message(packet::kDefaults, defaults);
  packet_.message(packet::kClockSnapshot, snapshot);
  emit(packet_);
}

void TraceWriter::emit(const ProtoMessage& p) {
  wrapper_.clear();
  wrapper_.message(kTracePacket, p);
  out_ += wrapper_.data();
  ++stats_.packets;
  stats_.bytes += wrapper_.data().size();
  if (out_.size() >= chunk_bytes_) {
    if (ok_ && !sink_(out_)) ok_ = false;
    out_.clear();
  }
}

void TraceWriter::write_packet(int64_t ts, uint32_t field, const ProtoMessage& payload) {
  packet_.clear();
  if (ts >= last_ts_) {
    packet_.varint(packet::kTimestamp, static_cast<uint64_t>(ts - last_ts_));
    last_ts_ = ts;
  } else {  // late: the absolute time on the trace's clock
    packet_.varint(packet::kTimestamp, static_cast<uint64_t>(ts));
    packet_.varint(packet::kTimestampClockId, kClockBoottime);
  }
  packet_.message(field, payload);
  packet_.varint(packet::kSequenceId, kSequence);
  if (!interned_.empty()) packet_.message(packet::kInternedData, interned_);
  packet_.varint(packet::kSequenceFlags, kSeqNeedsIncrementalState);
  emit(packet_);
  interned_.clear();
}

void TraceWriter::end_slices_until(int64_t ts) {
  while (!ends_.empty() && ends_.top().ts <= ts) {
    PendingEnd e = ends_.top();
    ends_.pop();
    if (!started_) start_sequence(e.ts);
    event_.clear();
    event_.varint(event::kType, event::kSliceEnd);
    event_.varint(event::kTrackUuid, e.track);
    write_packet(e.ts, packet::kTrackEvent, event_);
    auto& open = open_[e.track];
    if (!open.empty()) open.pop_back();
  }
}

void TraceWriter::begin_event(int64_t ts) {
  if (!started_) start_sequence(ts);
  end_slices_until(ts);
  event_.clear();
  interned_.clear();
}

uint64_t TraceWriter::intern(std::unordered_map<std::string, uint64_t>& table,
                             uint32_t interned_field, std::string_view value) {
  auto it = table.find(std::string(value));
  if (it != table.end()) return it->second;
  uint64_t iid = table.size() + 1;
  table.emplace(std::string(value), iid);
  scratch_.clear();
  scratch_.varint(1, iid);
  scratch_.bytes(2, value);
  interned_.message(interned_field, scratch_);
  return iid;
}

void TraceWriter::add_args(const std::vector<Arg>& args) {
  for (const auto& a : args) {
    // The annotation's value may itself be interned: build it in a message of its own.
    ProtoMessage annotation;
    annotation.varint(arg::kNameIid, intern(arg_names_, interned::kArgNames, a.name));
    switch (a.kind) {
      case Arg::Kind::kInt:
        annotation.varint(arg::kInt, static_cast<uint64_t>(a.number));
        break;
      case Arg::Kind::kText:
        annotation.bytes(arg::kString, a.text);
        break;
      case Arg::Kind::kLabel:
        annotation.varint(arg::kStringIid, intern(labels_, interned::kArgStrings, a.text));
        break;
      case Arg::Kind::kPointer:
        annotation.varint(arg::kPointer, static_cast<uint64_t>(a.number));
        break;
      case Arg::Kind::kBool:
        annotation.boolean(arg::kBool, a.number != 0);
        break;
    }
    event_.message(event::kDebugAnnotations, annotation);
  }
}

void TraceWriter::slice(uint64_t track, int64_t ts, int64_t duration, std::string_view name,
                        const std::vector<Arg>& args) {
  begin_event(ts);
  int64_t end = ts + std::max<int64_t>(duration, 0);
  auto& open = open_[track];
  if (!open.empty() && open.back() < end) {
    end = std::max(open.back(), ts);
    ++stats_.clamped;
  }
  event_.varint(event::kType, event::kSliceBegin);
  event_.varint(event::kTrackUuid, track);
  event_.varint(event::kNameIid, intern(event_names_, interned::kEventNames, name));
  add_args(args);
  write_packet(ts, packet::kTrackEvent, event_);
  open.push_back(end);
  ends_.push({end, ++slice_order_, track});
  ++stats_.slices;
}

void TraceWriter::instant(uint64_t track, int64_t ts, std::string_view name,
                          const std::vector<Arg>& args) {
  begin_event(ts);
  event_.varint(event::kType, event::kInstant);
  event_.varint(event::kTrackUuid, track);
  event_.varint(event::kNameIid, intern(event_names_, interned::kEventNames, name));
  add_args(args);
  write_packet(ts, packet::kTrackEvent, event_);
  ++stats_.instants;
}

void TraceWriter::counter(uint64_t track, int64_t ts, int64_t value) {
  begin_event(ts);
  event_.varint(event::kType, event::kCounter);
  event_.varint(event::kTrackUuid, track);
  event_.varint(event::kCounterValue, static_cast<uint64_t>(value));
  write_packet(ts, packet::kTrackEvent, event_);
  ++stats_.counter_values;
}

namespace descriptor {
constexpr uint32_t kUuid = 1, kName = 2, kProcess = 3, kThread = 4, kParent = 5, kCounter = 8;
}

void TraceWriter::describe_process(uint64_t uuid, int64_t ts, uint32_t pid, std::string_view name,
                                   const std::vector<std::string>& cmdline) {
  begin_event(ts);
  ProtoMessage process, track;
  process.varint(1, pid);
  for (const auto& a : cmdline) process.bytes(2, a);
  process.bytes(6, name);
  track.varint(descriptor::kUuid, uuid);
  track.message(descriptor::kProcess, process);
  write_packet(ts, packet::kTrackDescriptor, track);
  ++stats_.tracks;
}

void TraceWriter::describe_thread(uint64_t uuid, int64_t ts, uint32_t pid, uint32_t tid,
                                  std::string_view name) {
  begin_event(ts);
  ProtoMessage thread, track;
  thread.varint(1, pid);
  thread.varint(2, tid);
  thread.bytes(5, name);
  track.varint(descriptor::kUuid, uuid);
  track.message(descriptor::kThread, thread);
  write_packet(ts, packet::kTrackDescriptor, track);
  ++stats_.tracks;
}

void TraceWriter::describe_track(uint64_t uuid, int64_t ts, uint64_t parent,
                                 std::string_view name) {
  begin_event(ts);
  ProtoMessage track;
  track.varint(descriptor::kUuid, uuid);
  track.varint(descriptor::kParent, parent);
  track.bytes(descriptor::kName, name);
  write_packet(ts, packet::kTrackDescriptor, track);
  ++stats_.tracks;
}

void TraceWriter::describe_counter(uint64_t uuid, int64_t ts, uint64_t parent,
                                   std::string_view name, CounterUnit unit) {
  begin_event(ts);
  ProtoMessage counter, track;
  counter.varint(3, static_cast<uint64_t>(unit));
  track.varint(descriptor::kUuid, uuid);
  track.varint(descriptor::kParent, parent);
  track.bytes(descriptor::kName, name);
  track.message(descriptor::kCounter, counter);
  write_packet(ts, packet::kTrackDescriptor, track);
  ++stats_.tracks;
}

void TraceWriter::finish() {
  end_slices_until(INT64_MAX);
  if (!out_.empty()) {
    if (ok_ && !sink_(out_)) ok_ = false;
    out_.clear();
  }
}

}  // namespace scope::perfetto
