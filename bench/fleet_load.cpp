// A fleet of enrolled nodes played by one process (bench/fleet_load.sh runs it; numbers in
// BENCHMARKS.md):
//   enroll  creates N nodes through the server's API (POST /api/v1/nodes, the admin token) and
//           enrolls each with a key pair of its own (POST /api/v1/nodes/enroll), every node from
//           its own loopback address (127.1.x.y), as a fleet's nodes come from their own hosts:
//           the enrollment throttle is per address, so nothing is bypassed. The secret keys go to
//           a file (mode 0600), one "name base64url-secret" a line.
//   send    B batches of E mixed events per node (CUDA launches, memory calls, opens, syscall
//           counts: bench/fleet_common.h), encoded and zstd'ed before the clock starts, then
//           shipped round by round from every node (one batch per node per round, the nodes
//           spread over T threads), each entry signed with its node's key by the agent's
//           StreamProducer; waits until PostgreSQL holds them all. Prints the events/s added to
//           the stream and the events/s stored (first XADD to the last batch committed).
//   check   exactly once, per node: the rows of every family hold each of the node's sequence
//           numbers 0..N-1 once, and scope_batches accounts for N events.
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "auth/crypto.h"
#include "event/batch.h"
#include "fleet_common.h"
#include "http/client.h"
#include "transport/redis_stream.h"

using namespace scope;
using namespace scope::bench;

namespace {

struct LoadNode {
  std::string name;
  std::string secret_key;  // raw, 64 bytes
};

// "http://HOST:PORT" -> HOST, PORT.
bool parse_server(const std::string& url, std::string* host, int* port) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  std::string rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  *host = rest.substr(0, colon);
  *port = std::atoi(rest.c_str() + colon + 1);
  return *port > 0;
}

// One HTTP/1.1 POST from the loopback address `source` (http::fetch cannot choose its source
// address); the status and the body, status 0 and the reason on a socket error.
std::pair<int, std::string> post_from(const std::string& source, const std::string& host, int port,
                                      const std::string& path, const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {0, std::strerror(errno)};
  sockaddr_in src{}, dst{};
  src.sin_family = dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, source.c_str(), &src.sin_addr) != 1 ||
      inet_pton(AF_INET, host.c_str(), &dst.sin_addr) != 1) {
    ::close(fd);
    return {0, "not an IPv4 address: " + source + " or " + host};
  }
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return {0, why};
  }
  std::string req =
      "POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return {0, "send failed"};
    }
    off += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  ::close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody" (the server answers Connection: close with a length).
  if (answer.size() < 12 || answer.rfind("HTTP/1.1 ", 0) != 0) return {0, "no HTTP answer"};
  int status = std::atoi(answer.c_str() + 9);
  auto head_end = answer.find("\r\n\r\n");
  return {status, head_end == std::string::npos ? "" : answer.substr(head_end + 4)};
}

int enroll(const std::string& server, const std::string& token_file, int nodes,
           const std::string& prefix, const std::string& keys_path, int threads) {
  std::string host;
  int port = 0;
  if (!parse_server(server, &host, &port)) {
    std::fprintf(stderr, "fleet_load: --server must be http://IPV4:PORT\n");
    return 2;
  }
  std::ifstream tf(token_file);
  std::string admin;
  std::getline(tf, admin);
  if (admin.empty()) {
    std::fprintf(stderr, "fleet_load: no admin token in %s\n", token_file.c_str());
    return 2;
  }
  std::vector<LoadNode> out(static_cast<size_t>(nodes));
  std::atomic<int> next{0}, failed{0}, throttled{0};
  std::mutex log_mu;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(log_mu);
    if (failed++ < 5) std::fprintf(stderr, "fleet_load: %s\n", what.c_str());
  };
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i = next++; i < nodes; i = next++) {
        std::string name = prefix + "-" + std::to_string(i);
        http::ClientRequest create;
        create.method = "POST";
        create.url = server + "/api/v1/nodes";
        create.headers = {{"Authorization", "Bearer " + admin}};
        create.body = nlohmann::json{{"name", name}}.dump();
        auto created = http::fetch(create);
        if (!created || created->status != 201) {
          fail("POST /api/v1/nodes " + name + ": " +
               (created ? std::to_string(created->status) + " " + created->body : created.error()));
          continue;
        }
        std::string enrollment_token =
            nlohmann::json::parse(created->body).value("enrollment_token", "");
        auto pair = auth::generate_node_key();
        if (!pair) {
          fail(pair.error());
          continue;
        }
        // The node's own address: 127.1.0.1, 127.1.0.2, ... (all of 127/8 is the loopback).
        std::string source = "127.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
        std::string body = nlohmann::json{{"token", enrollment_token},
                                          {"public_key", auth::base64url_encode(pair->public_key)}}
                               .dump();
        auto [status, answer] = post_from(source, host, port, "/api/v1/nodes/enroll", body);
        if (status == 429) ++throttled;
        if (status != 200) {
          fail("POST /api/v1/nodes/enroll " + name + " from " + source + ": " +
               std::to_string(status) + " " + answer);
          continue;
        }
        out[static_cast<size_t>(i)] = {name, pair->secret_key};
      }
    });
  for (auto& t : pool) t.join();
  double sec = seconds_since(start);
  if (failed > 0) {
    std::fprintf(stderr, "fleet_load: %d of %d nodes not enrolled (%d throttled)\n", failed.load(),
                 nodes, throttled.load());
    return 1;
  }
  ::umask(077);
  std::ofstream keys(keys_path, std::ios::trunc);
  for (const auto& n : out) keys << n.name << ' ' << auth::base64url_encode(n.secret_key) << '\n';
  keys.close();
  if (!keys) {
    std::fprintf(stderr, "fleet_load: cannot write %s\n", keys_path.c_str());
    return 1;
  }
  std::printf("{\"mode\":\"enroll\",\"nodes\":%d,\"seconds\":%.2f,\"nodes_per_s\":%.1f}\n", nodes,
              sec, nodes / sec);
  return 0;
}

std::vector<LoadNode> read_keys(const std::string& path) {
  std::vector<LoadNode> nodes;
  std::ifstream in(path);
  std::string name, key;
  while (in >> name >> key) {
    auto raw = auth::base64url_decode(key);
    if (!raw || raw->size() != auth::kNodeSecretKeyBytes) {
      std::fprintf(stderr, "fleet_load: %s: a bad key for %s\n", path.c_str(), name.c_str());
      std::exit(1);
    }
    nodes.push_back({name, std::move(*raw)});
  }
  if (nodes.empty()) {
    std::fprintf(stderr, "fleet_load: no nodes in %s (run enroll first)\n", path.c_str());
    std::exit(1);
  }
  return nodes;
}

int64_t query_int(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  int64_t v = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
    v = std::strtoll(PQgetvalue(r, 0, 0), nullptr, 10);
  else
    std::fprintf(stderr, "fleet_load: %s: %s", sql.c_str(), PQerrorMessage(c));
  PQclear(r);
  return v;
}

struct SendOptions {
  std::string redis, stream, keys, postgres, schema, boot_id = "load";
  uint64_t batches = 2, events = 1000, first_batch = 0;
  int threads = 4;
  double stall_s = 120;  // no progress in PostgreSQL for this long: give up
};

int send(const SendOptions& o) {
  auto nodes = read_keys(o.keys);
  auto ep = transport::parse_redis_url(o.redis);
  if (!ep) {
    std::fprintf(stderr, "fleet_load: %s\n", ep.error().c_str());
    return 2;
  }
  PGconn* pg = PQconnectdb(o.postgres.c_str());
  if (PQstatus(pg) != CONNECTION_OK) {
    std::fprintf(stderr, "fleet_load: %s", PQerrorMessage(pg));
    return 1;
  }
  // What the agent would have made: every batch encoded (zstd level 1, the agent's) up front, so
  // that the clock measures the pipeline and not this process making events.
  auto prep = Clock::now();
  int64_t t0 = now_ns();
  std::vector<std::vector<std::string>> encoded(nodes.size());
  size_t bytes = 0;
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (uint64_t b = o.first_batch; b < o.first_batch + o.batches; ++b) {
      event::Batch batch;
      batch.node = nodes[n].name;
      batch.boot_id = o.boot_id;
      batch.first_seq = b * o.events;
      batch.events.reserve(o.events);
      for (uint64_t i = 0; i < o.events; ++i) {
        uint64_t seq = batch.first_seq + i;
        batch.events.push_back(
            mixed_row(seq + n * 7919, t0 + static_cast<int64_t>((seq * nodes.size() + n) * 100)));
      }
      encoded[n].push_back(event::encode_batch(batch));
      bytes += encoded[n].back().size();
    }
  }
  double prep_s = seconds_since(prep);
  const uint64_t total = nodes.size() * o.batches * o.events;
  const std::string done_sql = "SELECT coalesce(sum(events), 0) FROM " + o.schema +
                               ".scope_batches WHERE boot_id = '" + o.boot_id +
                               "' AND first_seq >= " + std::to_string(o.first_batch * o.events);
  int64_t before = query_int(pg, done_sql);
  if (before != 0) {
    std::fprintf(stderr, "fleet_load: %lld events of these batches are stored already\n",
                 static_cast<long long>(before));
    return 1;
  }

  auto start = Clock::now();
  std::atomic<bool> failed{false};
  std::vector<std::thread> senders;
  for (int t = 0; t < o.threads; ++t)
    senders.emplace_back([&, t] {
      transport::RedisClient rc(*ep, 30000);
      // One producer per node, signing as the node's agent does (field n, field s).
      std::vector<std::pair<size_t, std::unique_ptr<transport::StreamProducer>>> mine;
      for (size_t n = static_cast<size_t>(t); n < nodes.size();
           n += static_cast<size_t>(o.threads)) {
        auto p = std::make_unique<transport::StreamProducer>(rc, o.stream);
        const std::string& key = nodes[n].secret_key;
        p->set_signer(nodes[n].name,
                      [&key](std::string_view b) { return auth::sign_detached(key, b); });
        mine.emplace_back(n, std::move(p));
      }
      for (uint64_t r = 0; r < o.batches && !failed; ++r)
        for (auto& [n, p] : mine) {
          auto added = p->add_many({encoded[n][r]});
          if (!added || *added != 1) {
            std::fprintf(stderr, "fleet_load: XADD: %s\n",
                         added ? "not added" : added.error().c_str());
            failed = true;
            return;
          }
        }
    });
  for (auto& s : senders) s.join();
  double send_s = seconds_since(start);
  if (failed) return 1;

  int64_t stored = 0, last = -1;
  auto progress_at = Clock::now();
  while (true) {
    stored = query_int(pg, done_sql);
    if (stored < 0) return 1;
    if (static_cast<uint64_t>(stored) >= total) break;
    if (stored != last) {
      last = stored;
      progress_at = Clock::now();
    } else if (seconds_since(progress_at) > o.stall_s) {
      std::fprintf(stderr, "fleet_load: stuck at %lld of %llu events stored\n",
                   static_cast<long long>(stored), static_cast<unsigned long long>(total));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double stored_s = seconds_since(start);
  PQfinish(pg);
  nlohmann::json j = {{"mode", "send"},
                      {"nodes", nodes.size()},
                      {"batches_per_node", o.batches},
                      {"events_per_batch", o.events},
                      {"events", total},
                      {"encoded_bytes", bytes},
                      {"prepare_s", prep_s},
                      {"send_s", send_s},
                      {"send_events_per_s", static_cast<double>(total) / send_s},
                      {"stored_s", stored_s},
                      {"events_per_s", static_cast<double>(total) / stored_s}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

// Exactly once per node: every family's rows of the node hold each sequence number 0..N-1 once.
int check(const std::string& postgres, const std::string& schema, const std::string& keys_path,
          uint64_t expect) {
  auto nodes = read_keys(keys_path);
  PGconn* pg = PQconnectdb(postgres.c_str());
  if (PQstatus(pg) != CONNECTION_OK) {
    std::fprintf(stderr, "fleet_load: %s", PQerrorMessage(pg));
    return 1;
  }
  std::string rows;
  for (const char* family : {"cuda", "open", "syscalls"})
    rows += std::string(rows.empty() ? "" : " UNION ALL ") + "SELECT node, seq FROM " + schema +
            "." + family + "_events";
  std::string sql =
      "SELECT r.node, count(*), count(DISTINCT r.seq), min(r.seq), max(r.seq), (SELECT "
      "coalesce(sum(events), 0) FROM " +
      schema + ".scope_batches b WHERE b.node = r.node) FROM (" + rows + ") r GROUP BY r.node";
  auto start = Clock::now();
  PGresult* r = PQexec(pg, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::fprintf(stderr, "fleet_load: %s", PQerrorMessage(pg));
    return 1;
  }
  std::map<std::string, std::vector<int64_t>> got;
  for (int i = 0; i < PQntuples(r); ++i) {
    std::vector<int64_t> v;
    for (int c = 1; c < 6; ++c) v.push_back(std::strtoll(PQgetvalue(r, i, c), nullptr, 10));
    got[PQgetvalue(r, i, 0)] = v;
  }
  PQclear(r);
  PQfinish(pg);
  const auto e = static_cast<int64_t>(expect);
  size_t ok = 0, shown = 0;
  uint64_t rows_total = 0;
  for (const auto& n : nodes) {
    auto it = got.find(n.name);
    std::vector<int64_t> want = {e, e, 0, e - 1, e};
    if (it != got.end()) rows_total += static_cast<uint64_t>(it->second[0]);
    if (it != got.end() && it->second == want) {
      ++ok;
      continue;
    }
    if (shown++ < 5) {
      if (it == got.end())
        std::fprintf(stderr, "fleet_load: node %s: no rows\n", n.name.c_str());
      else
        std::fprintf(stderr,
                     "fleet_load: node %s: %lld rows, %lld distinct seq in [%lld, %lld], "
                     "scope_batches %lld (want %lld of each, seq 0..%lld)\n",
                     n.name.c_str(), static_cast<long long>(it->second[0]),
                     static_cast<long long>(it->second[1]), static_cast<long long>(it->second[2]),
                     static_cast<long long>(it->second[3]), static_cast<long long>(it->second[4]),
                     static_cast<long long>(e), static_cast<long long>(e - 1));
    }
  }
  std::printf(
      "{\"mode\":\"check\",\"nodes\":%zu,\"nodes_exactly_once\":%zu,\"rows\":%llu,"
      "\"expected_rows\":%llu,\"seconds\":%.2f}\n",
      nodes.size(), ok, static_cast<unsigned long long>(rows_total),
      static_cast<unsigned long long>(expect * nodes.size()), seconds_since(start));
  return ok == nodes.size() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: fleet_load enroll --server http://IP:PORT --admin-token FILE --nodes N "
                 "--prefix P --keys FILE [--threads T]\n"
                 "       fleet_load send --redis URL --stream S --keys FILE --postgres URL "
                 "--schema S [--batches B] [--events E] [--first-batch K] [--threads T]\n"
                 "       fleet_load check --postgres URL --schema S --keys FILE --expect N\n");
    return 2;
  }
  std::string mode = argv[1];
  auto num = [&](const char* name, const char* def) {
    return std::strtoull(arg(argc, argv, name, def), nullptr, 10);
  };
  std::string keys = arg(argc, argv, "--keys", "fleet_load.keys");
  if (mode == "enroll")
    return enroll(arg(argc, argv, "--server", ""), arg(argc, argv, "--admin-token", ""),
                  static_cast<int>(num("--nodes", "1000")), arg(argc, argv, "--prefix", "load"),
                  keys, static_cast<int>(num("--threads", "4")));
  if (mode == "send") {
    SendOptions o;
    o.redis = arg(argc, argv, "--redis", "");
    o.stream = arg(argc, argv, "--stream", "scope:events");
    o.keys = keys;
    o.postgres = arg(argc, argv, "--postgres", "");
    o.schema = arg(argc, argv, "--schema", "scope");
    o.batches = num("--batches", "2");
    o.events = num("--events", "1000");
    o.first_batch = num("--first-batch", "0");
    o.threads = static_cast<int>(num("--threads", "4"));
    return send(o);
  }
  if (mode == "check")
    return check(arg(argc, argv, "--postgres", ""), arg(argc, argv, "--schema", "scope"), keys,
                 num("--expect", "0"));
  std::fprintf(stderr, "fleet_load: unknown mode %s\n", mode.c_str());
  return 2;
}
