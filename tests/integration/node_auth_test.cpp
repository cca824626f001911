// Authenticated nodes, attacked: enrollment tokens work once, entries that are not signed by the
// node they name never reach the store (so forgeries cannot take a real batch's dedupe key),
// a deleted node's key stops working, and an agent can ship through a Redis user that may
// only XADD to the stream.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "auth/crypto.h"
#include "event/batch.h"
#include "fleet_helpers.h"

namespace scope::fleettest {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string this_boot_id() {
  std::string id = read_file("/proc/sys/kernel/random/boot_id");
  while (!id.empty() && id.back() == '\n') id.pop_back();
  return id;
}

// The dead-letter stream, one "error (node)" line per entry: for failure messages.
std::string dead_letters(Fleet& f) {
  auto dead = f.redis().command({"XRANGE", f.stream() + ":dead", "-", "+", "COUNT", "20"});
  if (!dead) return dead.error();
  std::string out = "dead letters:\n";
  for (const auto& entry : dead->elements) {
    auto kv = fields_of(entry);
    out += "  " + kv["error"] + " (" + kv["n"] + ")\n";
  }
  return out;
}

RunResult enroll_with(Fleet& f, const std::string& token, const std::string& dir) {
  std::string file = dir + "/enroll.token";
  std::ofstream(file) << token << "\n";
  return bpftest::run(
      {kScope, "agent", "--enroll-file", file, "--server", f.server_url(), "--data-dir", dir}, 60);
}

TEST(NodeAuth, AnEnrollmentTokenWorksOnce) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("enroll_once");
  Process& server = f.server();
  ASSERT_FALSE(f.server_url().empty()) << describe(server);

  // Only an admin adds nodes.
  EXPECT_EQ(f.api("POST", "/api/v1/nodes", R"({"name":"gpu-7"})", "").status, 401);
  EXPECT_EQ(f.api("POST", "/api/v1/nodes", R"({"name":"gpu 7; DROP"})").status, 400);
  std::string token = f.create_node("gpu-7");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(f.api("POST", "/api/v1/nodes", R"({"name":"gpu-7"})").status, 409);

  std::string dir = f.data_dir("agent-gpu-7");
  RunResult first = enroll_with(f, token, dir);
  ASSERT_EQ(first.status, 0) << first.out << first.err;
  EXPECT_NE((first.out + first.err).find("gpu-7"), std::string::npos) << first.out << first.err;
  struct stat st {};
  ASSERT_EQ(stat((dir + "/node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());

  // An enrolled agent ships as its name: another --node is refused, and so is a key file that
  // others may read.
  RunResult renamed = bpftest::run({kScope, "agent", "--redis", redis_url(), "--stream", f.stream(),
                                    "--data-dir", dir, "--node", "gpu-8"},
                                   30);
  EXPECT_EQ(renamed.status, 2) << renamed.err;
  EXPECT_NE(renamed.err.find("this node is enrolled as gpu-7"), std::string::npos) << renamed.err;
  ASSERT_EQ(chmod((dir + "/node.key").c_str(), 0644), 0);
  RunResult exposed = bpftest::run(
      {kScope, "agent", "--redis", redis_url(), "--stream", f.stream(), "--data-dir", dir}, 30);
  EXPECT_NE(exposed.status, 0);
  EXPECT_NE(exposed.err.find("readable or writable by other users"), std::string::npos)
      << exposed.err;
  ASSERT_EQ(chmod((dir + "/node.key").c_str(), 0600), 0);

  // The same token again, from anywhere: refused, and no key is written.
  std::string other = f.data_dir("agent-thief");
  RunResult second = enroll_with(f, token, other);
  EXPECT_NE(second.status, 0) << second.out;
  EXPECT_NE(second.err.find("unknown, used or expired"), std::string::npos) << second.err;
  EXPECT_FALSE(std::filesystem::exists(other + "/node.key"));
  // A made-up token, and a body that is not what the endpoint takes.
  RunResult guessed =
      enroll_with(f, "scope_enroll_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", other);
  EXPECT_NE(guessed.status, 0);
  EXPECT_EQ(f.api("POST", "/api/v1/nodes/enroll", R"({"token":1})", "").status, 400);
  EXPECT_EQ(f.api("POST", "/api/v1/nodes/enroll", "not json", "").status, 400);

  // The node as the API shows it: enrolled, with its key's fingerprint (never the key).
  auto got = f.api("GET", "/api/v1/nodes/gpu-7");
  ASSERT_EQ(got.status, 200) << got.body;
  auto j = nlohmann::json::parse(got.body);
  EXPECT_EQ(j["name"], "gpu-7");
  EXPECT_EQ(j["enrolled"], true);
  ASSERT_TRUE(j["public_key_fingerprint"].is_string()) << got.body;
  EXPECT_EQ(j["public_key_fingerprint"].get<std::string>().rfind("SHA256:", 0), 0u) << got.body;
  // libsodium's Ed25519 secret key ends with the public one.
  auto secret = auth::base64url_decode(read_file(dir + "/node.key").substr(0, 86));
  ASSERT_TRUE(secret && secret->size() == auth::kNodeSecretKeyBytes);
  std::string public_key = auth::base64url_encode(secret->substr(32));
  EXPECT_EQ(got.body.find(public_key), std::string::npos) << got.body;
  auto list = f.api("GET", "/api/v1/nodes");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(nlohmann::json::parse(list.body)["nodes"].size(), 1u) << list.body;
}

// `scope nodes` does the same through the API with the server's admin token: list, add (the
// token written to a new 0600 file, never over an existing one), remove.
TEST(NodeAuth, TheNodesCommandListsAddsAndRemoves) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("nodes_cli");
  Process& server = f.server();
  ASSERT_FALSE(f.server_url().empty()) << describe(server);
  const std::string dir = f.data_dir("server");
  auto nodes = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {kScope, "nodes", "--data-dir", dir};
    argv.insert(argv.end(), args.begin(), args.end());
    return bpftest::run(argv, 30);
  };
  RunResult empty = nodes({});
  EXPECT_EQ(empty.status, 0) << empty.err;
  EXPECT_NE(empty.out.find("no nodes yet"), std::string::npos) << empty.out;

  std::string agent_dir = f.data_dir("agent-gpu-9");
  std::string token_file = agent_dir + "/gpu-9.token";
  RunResult added = nodes({"add", "gpu-9", "--token-file", token_file});
  ASSERT_EQ(added.status, 0) << added.err;
  EXPECT_EQ(added.out.find("scope_enroll_"), std::string::npos) << "the token went to stdout";
  struct stat st {};
  ASSERT_EQ(stat(token_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // An existing file is not overwritten, and then no node is added.
  RunResult clash = nodes({"add", "gpu-10", "--token-file", token_file});
  EXPECT_EQ(clash.status, 1);
  EXPECT_EQ(f.api("GET", "/api/v1/nodes/gpu-10").status, 404);
  EXPECT_EQ(nodes({"add", "bad name"}).status, 1);

  RunResult enrolled = bpftest::run({kScope, "agent", "--enroll-file", token_file, "--server",
                                     f.server_url(), "--data-dir", agent_dir},
                                    60);
  ASSERT_EQ(enrolled.status, 0) << enrolled.err;
  RunResult listed = nodes({});
  ASSERT_EQ(listed.status, 0) << listed.err;
  auto lines = bpftest::lines_of(listed.out);
  ASSERT_EQ(lines.size(), 2u) << listed.out;
  EXPECT_EQ(lines[1].rfind("gpu-9 ", 0), 0u) << listed.out;
  EXPECT_NE(lines[1].find(" never "), std::string::npos) << "enrolled, no heartbeat yet\n"
                                                         << listed.out;
  EXPECT_NE(lines[1].find("SHA256:"), std::string::npos) << listed.out;
  RunResult as_json = nodes({"--json"});
  auto j = nlohmann::json::parse(as_json.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << as_json.out;
  EXPECT_EQ(j["nodes"].size(), 1u);

  EXPECT_EQ(nodes({"rm", "gpu-9"}).status, 0);
  RunResult again = nodes({"rm", "gpu-9"});
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("no node 'gpu-9'"), std::string::npos) << again.err;
  // Without a token or a login: says how to get one. A bad token: refused by the server.
  const std::string home = f.data_dir("home");
  const std::vector<std::pair<std::string, std::string>> as_user = {
      {"HOME", home}, {"XDG_CONFIG_HOME", home + "/.config"}};
  RunResult anonymous = bpftest::run({kScope, "nodes", "--server", f.server_url()}, 30, as_user);
  EXPECT_EQ(anonymous.status, 1);
  EXPECT_NE(anonymous.err.find("not logged in to " + f.server_url() + ": run 'scope login"),
            std::string::npos)
      << anonymous.err;
  RunResult forged = bpftest::run(
      {kScope, "nodes", "add", "gpu-10", "--server", f.server_url(), "--token", "scope_forged"},
      30);
  EXPECT_EQ(forged.status, 1);
  EXPECT_NE(forged.err.find("not a JWT"), std::string::npos) << forged.err;

  // `scope login`: a user's tokens kept 0600 for the commands given --server; a viewer lists.
  auto first = f.api("POST", "/api/v1/auth/register",
                     R"({"username":"ana","password":"the admin's password"})");
  ASSERT_EQ(first.status, 201) << first.body;
  auto invite = f.api("POST", "/api/v1/auth/invites", R"({"role":"viewer"})");
  ASSERT_EQ(invite.status, 201) << invite.body;
  auto reg = f.api("POST", "/api/v1/auth/register",
                   nlohmann::json{{"username", "vera"},
                                  {"password", "a long enough password"},
                                  {"invite", nlohmann::json::parse(invite.body)["invite"]}}
                       .dump(),
                   "");
  ASSERT_EQ(reg.status, 201) << reg.body;
  auto with_password = as_user;
  with_password.emplace_back("SCOPE_PASSWORD", "wrong password!");
  RunResult bad_login = bpftest::run(
      {kScope, "login", "--server", f.server_url(), "--user", "vera"}, 60, with_password);
  EXPECT_EQ(bad_login.status, 1) << bad_login.out << bad_login.err;
  with_password.back().second = "a long enough password";
  RunResult login = bpftest::run({kScope, "login", "--server", f.server_url(), "--user", "vera"},
                                 60, with_password);
  ASSERT_EQ(login.status, 0) << login.out << login.err;
  EXPECT_NE(login.out.find("logged in to " + f.server_url() + " as vera"), std::string::npos)
      << login.out;
  struct stat creds {};
  ASSERT_EQ(::stat((home + "/.config/scope/credentials.json").c_str(), &creds), 0);
  EXPECT_EQ(creds.st_mode & 0777, 0600u);
  RunResult viewer = bpftest::run({kScope, "nodes", "--server", f.server_url()}, 30, as_user);
  EXPECT_EQ(viewer.status, 0) << viewer.err;
  EXPECT_NE(viewer.out.find("no nodes yet"), std::string::npos) << viewer.out;
  RunResult not_admin =
      bpftest::run({kScope, "nodes", "add", "gpu-11", "--server", f.server_url()}, 30, as_user);
  EXPECT_EQ(not_admin.status, 1);
  EXPECT_NE(not_admin.err.find("admin"), std::string::npos) << not_admin.err;
  RunResult logout = bpftest::run({kScope, "logout", "--server", f.server_url()}, 30, as_user);
  EXPECT_EQ(logout.status, 0) << logout.err;
  RunResult after = bpftest::run({kScope, "nodes", "--server", f.server_url()}, 30, as_user);
  EXPECT_NE(after.err.find("not logged in"), std::string::npos) << after.err;
}

// The attack of issue 12: 3,001 entries in the name of a real node, with its real boot id and
// the sequence numbers it is about to use, XADDed before it ships. Unsigned, signed with a key
// that is not the node's, naming a node that does not exist, or signed by another enrolled node
// (a node that was taken over): each is refused, counted by cause and dead-lettered, and every
// one of the node's real events is stored.
TEST(NodeAuth, ForgedEntriesAreRefusedAndNoRealEventIsLost) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("forged");
  Process& server = f.server();
  int port = metrics_port(server);
  ASSERT_GT(port, 0) << describe(server);
  std::string victim_dir = f.data_dir("agent-node-a");
  f.enroll("node-a", victim_dir);
  auto mallory = f.signed_producer("mallory");  // enrolled, and the attacker's

  auto impostor_key = auth::generate_node_key();
  ASSERT_TRUE(impostor_key);
  transport::StreamProducer unsigned_producer(f.redis(), f.stream());
  transport::StreamProducer impostor(f.redis(), f.stream());
  impostor.set_signer("node-a", [&](std::string_view b) {
    return auth::sign_detached(impostor_key->secret_key, b);
  });
  transport::StreamProducer ghost(f.redis(), f.stream());
  ghost.set_signer("ghost", [&](std::string_view b) {
    return auth::sign_detached(impostor_key->secret_key, b);
  });

  const std::string boot = this_boot_id();
  ASSERT_FALSE(boot.empty());
  std::map<std::string, int64_t> sent;  // by the cause it must be refused for
  size_t bytes = 0;
  for (uint64_t seq = 0; seq <= 3000; ++seq) {
    event::Batch b = synthetic_batch("node-a", seq, 1);
    b.boot_id = boot;
    std::string data = event::encode_batch(b);
    bytes += data.size();
    const char* cause = nullptr;
    switch (seq % 4) {
      case 0:
        cause = "unsigned";
        ASSERT_TRUE(unsigned_producer.add(data));
        break;
      case 1:
        cause = "bad_signature";
        ASSERT_TRUE(impostor.add(data));
        break;
      case 2:
        cause = "unknown_node";
        ASSERT_TRUE(ghost.add(data));
        break;
      default:
        cause = "node_mismatch";
        ASSERT_TRUE(mallory->add(data));
    }
    ++sent[cause];
  }
  std::printf("  3001 forged entries, %zu bytes, boot id %s, first_seq 0..3000\n", bytes,
              boot.c_str());

  const int64_t real = 20000;
  Process& agent = f.agent("node-a", real, 20000, {"--batch-events", "500"}, victim_dir);
  ASSERT_TRUE(f.wait_stored(real, 90)) << f.stored() << "\n" << describe(server) << describe(agent);
  ASSERT_TRUE(wait_until(
      [&] {
        auto len = f.redis().command({"XLEN", f.stream() + ":dead"});
        return len && len->integer == 3001;
      },
      30))
      << describe(server);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  expect_exactly_once(f, real);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE node = 'node-a'"), real);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE node <> 'node-a'"), 0);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM scope_batches WHERE boot_id = '" + boot + "'"),
            real / 500);
  for (const auto& [cause, n] : sent)
    EXPECT_EQ(metric(port, rejected(cause)), static_cast<double>(n)) << cause;
  // Each refusal once in the dead-letter stream, with its cause and the node it claimed.
  auto dead = f.redis().command({"XRANGE", f.stream() + ":dead", "-", "+", "COUNT", "4"});
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->elements.size(), 4u);
  EXPECT_EQ(fields_of(dead->elements.at(0))["error"], "auth: unsigned");
  auto pending = f.redis().command({"XPENDING", f.stream(), "scope-server"});
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->elements.at(0).integer, 0) << "entries left unacknowledged";

  agent.signal(SIGTERM);
  agent.wait(30);
  auto s = stopped_summary(server);
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["stored"], real);
  EXPECT_EQ(s["unauthenticated"], 3001);
}

// Deleting a node revokes its key: what it signs afterwards is refused (after at most one
// refresh of the server's key cache, 3 s), and enrolling the name again makes a new key that
// the old one cannot stand in for.
TEST(NodeAuth, ADeletedNodesBatchesAreRefused) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("deleted_node");
  Process& server = f.server();
  int port = metrics_port(server);
  ASSERT_GT(port, 0) << describe(server);
  auto node = f.signed_producer("node-c");
  ASSERT_TRUE(node->add(event::encode_batch(synthetic_batch("node-c", 0, 100))));
  ASSERT_TRUE(f.wait_stored(100, 30)) << describe(server);

  EXPECT_EQ(f.api("DELETE", "/api/v1/nodes/node-c").status, 204);
  EXPECT_EQ(f.api("GET", "/api/v1/nodes/node-c").status, 404);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  ASSERT_TRUE(node->add(event::encode_batch(synthetic_batch("node-c", 100, 100))));
  ASSERT_TRUE(wait_until([&] { return metric(port, rejected("unknown_node")) == 1; }, 20))
      << describe(server);

  // Enrolled again under the same name: a new key; the old one's signatures do not verify.
  auto again = f.signed_producer("node-c");
  auto enrolled = f.api("GET", "/api/v1/nodes/node-c");
  ASSERT_EQ(enrolled.status, 200);
  ASSERT_TRUE(nlohmann::json::parse(enrolled.body)["enrolled"].get<bool>()) << enrolled.body;
  ASSERT_TRUE(node->add(event::encode_batch(synthetic_batch("node-c", 200, 100))));
  ASSERT_TRUE(again->add(event::encode_batch(synthetic_batch("node-c", 300, 100))));
  ASSERT_TRUE(wait_until([&] { return metric(port, rejected("bad_signature")) == 1; }, 20))
      << describe(server) << dead_letters(f);
  ASSERT_TRUE(f.wait_stored(200, 20)) << describe(server);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(f.stored(), 200);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE seq >= 100 AND seq < 300"), 0);

  // Deleted and enrolled again at once, while the server still holds the last key: the new
  // key's first batch is stored without waiting for a refresh.
  EXPECT_EQ(f.api("DELETE", "/api/v1/nodes/node-c").status, 204);
  auto third = f.signed_producer("node-c");
  ASSERT_TRUE(third->add(event::encode_batch(synthetic_batch("node-c", 400, 100))));
  ASSERT_TRUE(f.wait_stored(300, 2)) << describe(server) << dead_letters(f);
  EXPECT_EQ(metric(port, rejected("bad_signature")), 1);
}

// --allow-unsigned-batches (migrating agents that predate enrollment) stores unsigned batches of
// nodes that have no key, and still refuses an unsigned batch in the name of a node that has one.
TEST(NodeAuth, AllowingUnsignedBatchesStillProtectsEnrolledNodes) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("allow_unsigned");
  Process& server = f.server({"--allow-unsigned-batches"});
  int port = metrics_port(server);
  ASSERT_GT(port, 0) << describe(server);
  auto enrolled = f.signed_producer("node-e");
  transport::StreamProducer plain(f.redis(), f.stream());
  ASSERT_TRUE(plain.add(event::encode_batch(synthetic_batch("old-node", 0, 100))));
  ASSERT_TRUE(plain.add(event::encode_batch(synthetic_batch("node-e", 0, 100))));
  ASSERT_TRUE(enrolled->add(event::encode_batch(synthetic_batch("node-e", 0, 100))));
  ASSERT_TRUE(f.wait_stored(200, 30)) << describe(server);
  ASSERT_TRUE(wait_until([&] { return metric(port, rejected("unsigned")) == 1; }, 20))
      << describe(server);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE node = 'old-node'"), 100);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE node = 'node-e'"), 100);
}

// The Redis user the README documents for agents: XADD to its stream and nothing else. The
// agent ships through it and reads its plans; the same credentials cannot read, delete or write
// elsewhere.
TEST(NodeAuth, AnAgentShipsThroughARedisUserThatMayOnlyXadd) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("redis_acl");
  const std::string user = "scope-agent-" + std::to_string(getpid());
  const std::string password = "pw-" + std::to_string(getpid()) + "-acl-test";
  // Write-only on the events stream; read-only on its own control stream (Redis 7 selectors).
  const std::string control = transport::control_stream_name(f.stream(), "node-acl");
  auto set = f.redis().command({"ACL", "SETUSER", user, "on", ">" + password, "resetkeys",
                                "%W~" + f.stream(), "%R~" + control, "resetchannels", "-@all",
                                "+xadd", "+xread", "+xrevrange", "+ping", "+auth", "+hello"});
  ASSERT_TRUE(set) << set.error();
  ASSERT_NE(set->type, transport::RedisValue::kError) << set->str;
  struct DeleteUser {
    Fleet& f;
    std::string user;
    ~DeleteUser() { (void)f.redis().command({"ACL", "DELUSER", user}); }
  } cleanup{f, user};

  Process& server = f.server();
  std::string url = redis_url();
  std::string agent_url = "redis://" + user + ":" + password + "@" + url.substr(8);
  std::string dir = f.data_dir("agent-acl");
  f.enroll("node-acl", dir);
  Process& agent = f.start({kScope, "agent", "--node", "node-acl", "--stream", f.stream(),
                            "--listen", "127.0.0.1:0", "--data-dir", dir, "--test-synthetic-count",
                            "5000", "--test-synthetic-rate", "0", "--redis", agent_url});
  ASSERT_TRUE(f.wait_stored(5000, 60)) << describe(agent) << describe(server);
  expect_exactly_once(f, 5000);

  auto as_agent = transport::parse_redis_url(agent_url);
  ASSERT_TRUE(as_agent);
  transport::RedisClient client(*as_agent);
  auto ping = client.command({"PING"});
  ASSERT_TRUE(ping) << ping.error();
  EXPECT_EQ(ping->str, "PONG");
  auto refused = [&](const std::vector<std::string>& cmd) {
    auto r = client.command(std::vector<std::string_view>(cmd.begin(), cmd.end()));
    std::string what = r ? r->str : r.error();
    EXPECT_NE(what.find("NOPERM"), std::string::npos) << cmd[0] << ": " << what;
  };
  refused({"XREADGROUP", "GROUP", "scope-server", "x", "COUNT", "1", "STREAMS", f.stream(), ">"});
  refused({"XRANGE", f.stream(), "-", "+"});
  refused({"DEL", f.stream()});
  refused({"XTRIM", f.stream(), "MAXLEN", "0"});
  refused({"XADD", f.stream() + ":dead", "*", "b", "x"});
  refused({"KEYS", "*"});
  refused({"CONFIG", "GET", "*"});
  refused({"XREAD", "STREAMS", f.stream(), "0"});
  refused({"XADD", control, "*", "v", "1", "p", "{}"});
  refused({"XREAD", "STREAMS", transport::control_stream_name(f.stream(), "other-node"), "0"});
  auto own = client.command({"XREVRANGE", control, "+", "-", "COUNT", "1"});
  EXPECT_TRUE(own) << own.error();
  // Its heartbeats went through the same user, and a plan reaches it.
  auto hb = f.api("GET", "/api/v1/nodes/node-acl");
  EXPECT_NE(hb.body.find("\"state\":\"up\""), std::string::npos) << hb.body;
  auto put = f.api("PUT", "/api/v1/nodes/node-acl/probes", R"({"families":[]})");
  EXPECT_EQ(put.status, 202) << put.body;
  EXPECT_TRUE(wait_until(
      [&] {
        auto p = f.api("GET", "/api/v1/nodes/node-acl/probes");
        return p.body.find("\"pending\":false") != std::string::npos;
      },
      10));
  auto len = f.redis().command({"XLEN", f.stream()});
  ASSERT_TRUE(len);
  EXPECT_GT(len->integer, 0);
  agent.signal(SIGTERM);
  auto ra = agent.wait(30);
  auto sa = summary_of(ra);
  ASSERT_TRUE(sa.is_object()) << ra.out << ra.err;
  EXPECT_EQ(sa["shipped"], 5000);
}

}  // namespace
}  // namespace scope::fleettest
