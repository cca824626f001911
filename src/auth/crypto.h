// The primitives accounts and nodes are built from, all on libsodium: argon2id password hashes,
// random tokens, digests of stored secrets, constant-time comparison.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace scope::auth {

// OWASP's argon2id minimum (m = 19 MiB, t = 2, p = 1): ~40 ms a hash on this project's 2-core VM.
inline constexpr unsigned long long kPasswordOpsLimit = 2;
inline constexpr size_t kPasswordMemLimit = size_t{19} << 20;

// Initialises libsodium once; every function below calls it.
Status crypto_init();

// The argon2id string ($argon2id$v=19$m=...,t=...,p=1$salt$hash) of `password`.
Result<std::string> hash_password(std::string_view password);
// Whether `password` matches a hash_password() string; false for a malformed one.
bool verify_password(std::string_view hash, std::string_view password);
// A hash of a password nobody has, for the same work on a login for an unknown user.
const std::string& dummy_password_hash();

// `bytes` random bytes as base64url without padding, behind `prefix` ("scope_rt_").
std::string random_token(std::string_view prefix, size_t bytes = 32);
// `bytes` random bytes as lower-case hex.
std::string random_hex(size_t bytes);
// SHA-256 of `data` as lower-case hex: what is stored of a refresh, invite or enrollment token.
std::string sha256_hex(std::string_view data);
bool equal_constant_time(std::string_view a, std::string_view b);

// base64url without padding (RFC 4648 section 5), as JWTs use it.
std::string base64url_encode(std::string_view data);
// Empty on anything that is not base64url.
Result<std::string> base64url_decode(std::string_view text);

// Ed25519 (libsodium crypto_sign): a node's key pair, raw bytes (public 32, secret 64).
inline constexpr size_t kNodePublicKeyBytes = 32;
inline constexpr size_t kNodeSecretKeyBytes = 64;
inline constexpr size_t kNodeSignatureBytes = 64;
struct NodeKeyPair {
  std::string public_key;
  std::string secret_key;
};
Result<NodeKeyPair> generate_node_key();
// The detached signature (64 raw bytes) of `message`; empty for a secret key of the wrong size.
std::string sign_detached(std::string_view secret_key, std::string_view message);
// Whether `signature` is `public_key`'s over exactly `message`.
bool verify_detached(std::string_view public_key, std::string_view message,
                     std::string_view signature);
// What the API shows of a public key: "SHA256:" and the first 16 bytes of its digest in hex.
std::string key_fingerprint(std::string_view public_key);

}  // namespace scope::auth
