// GET /api/v1/query/...: the named questions the web UI asks of the store (no SQL in the
// browser). Each takes a time window and filters from its query string, validated strictly
// (anything unknown or malformed is a 400 saying which parameter), bound as parameters of the
// store's select() (never spliced into SQL), and answers the same JSON on SQLite and
// PostgreSQL: every order is total, text is ordered bytewise on both, and what is computed
// (rates, percentiles, memory levels) is computed here from the rows both stores return.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "http/router.h"
#include "store/store.h"

namespace scope::server {

// An event's identity in every event table: its time, its node and the node's sequence
// number. Launch ids and list cursors are this key, encoded ("<ts_ns>-<seq>-<hex node>").
struct EventKey {
  int64_t ts_ns = 0;
  int64_t seq = 0;
  std::string node;
  bool operator==(const EventKey&) const = default;
};
std::string encode_event_key(const EventKey& key);
// The key, or nullopt for a text that encode_event_key did not make.
std::optional<EventKey> decode_event_key(std::string_view text);

// What one endpoint accepts beyond the window and the node/pid/comm filters.
struct QueryRules {
  size_t default_limit = 100;
  size_t max_limit = 1000;         // 0: no `limit` parameter (the answer is not a list)
  bool cursor = false;             // a paged list
  std::vector<std::string> sorts;  // accepted `sort` values; the first is the default
  std::vector<std::string> extra;  // further text filters it takes (e.g. "kernel")
};

// A request's window and filters, validated.
struct QueryParams {
  int64_t from_ns = 0;  // the window is [from_ns, to_ns)
  int64_t to_ns = 0;
  std::string node;  // "" : every node
  int64_t pid = 0;   // 0 : every process
  std::string comm;  // "" : every command
  size_t limit = 0;
  std::optional<EventKey> cursor;
  std::string sort;
  std::map<std::string, std::string> extra;  // QueryRules::extra given
};

// The longest window a query may cover.
inline constexpr int64_t kMaxWindowNs = 31LL * 24 * 3600 * 1'000'000'000;

// Parses `query` (the request's query string) for an endpoint with `rules`: `from` and `to`
// as Unix ns or relative to `now_ns` ("5m", "1h", "2d"; `to` also "now"; defaults: the last
// hour), `node`, `pid`, `comm`, `limit`, `cursor`, `sort` and the endpoint's extras. Anything
// else, or a value out of range, is an error message naming the parameter.
std::variant<QueryParams, std::string> parse_query_params(
    const std::map<std::string, std::string>& query, int64_t now_ns, const QueryRules& rules);

// The bucket of a series over a window: the smallest round size (1s, 2s, 5s, ... 1d) that
// gives at most kSeriesPoints buckets. An hour gives minutes, which the per-minute rollup
// answers.
inline constexpr int64_t kSeriesPoints = 60;
int64_t series_step_ns(int64_t window_ns);

// Every /api/v1/query route, for viewers, on the worker pool.
void add_query_routes(http::Router& router, store::Store& store);

}  // namespace scope::server
