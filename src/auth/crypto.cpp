#include "auth/crypto.h"

#include <sodium.h>

#include <mutex>
#include <vector>

namespace scope::auth {

Status crypto_init() {
  static const int rc = sodium_init();  // 0 first time, 1 already done, -1 failure
  if (rc < 0) return make_error(Errc::kInternal, "libsodium could not be initialised");
  return Ok{};
}

Result<std::string> hash_password(std::string_view password) {
  if (auto st = crypto_init(); !st) return st.failure();
  std::vector<char> out(crypto_pwhash_STRBYTES);
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), kPasswordOpsLimit,
                            kPasswordMemLimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return make_error(Errc::kInternal, "argon2id: out of memory hashing a password");
  return std::string(out.data());
}

bool verify_password(std::string_view hash, std::string_view password) {
  if (!crypto_init() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  std::string terminated(hash);  // crypto_pwhash_str_verify wants a C string
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

const std::string& dummy_password_hash() {
  static const std::string hash = [] {
    auto h = hash_password(random_hex(16));
    return h ? *h : std::string();
  }();
  return hash;
}

std::string random_token(std::string_view prefix, size_t bytes) {
  (void)crypto_init();
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return std::string(prefix) + base64url_encode(raw);
}

std::string random_hex(size_t bytes) {
  (void)crypto_init();
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();
  return hex;
}

std::string sha256_hex(std::string_view data) {
  (void)crypto_init();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string base64url_encode(std::string_view data) {
  (void)crypto_init();
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(data.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()),
                    data.size(), variant);
  out.resize(std::char_traits<char>::length(out.c_str()));
  return out;
}

Result<std::string> base64url_decode(std::string_view text) {
  (void)crypto_init();
  std::string out(text.size() * 3 / 4 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size())
    return make_error(Errc::kBadInput, "not base64url");
  out.resize(len);
  return out;
}

Result<NodeKeyPair> generate_node_key() {
  if (auto st = crypto_init(); !st) return st.failure();
  static_assert(crypto_sign_PUBLICKEYBYTES == kNodePublicKeyBytes);
  static_assert(crypto_sign_SECRETKEYBYTES == kNodeSecretKeyBytes);
  static_assert(crypto_sign_BYTES == kNodeSignatureBytes);
  NodeKeyPair k;
  k.public_key.resize(crypto_sign_PUBLICKEYBYTES);
  k.secret_key.resize(crypto_sign_SECRETKEYBYTES);
  if (crypto_sign_keypair(reinterpret_cast<unsigned char*>(k.public_key.data()),
                          reinterpret_cast<unsigned char*>(k.secret_key.data())) != 0)
    return make_error(Errc::kInternal, "crypto_sign_keypair failed");
  return k;
}

std::string sign_detached(std::string_view secret_key, std::string_view message) {
  if (secret_key.size() != crypto_sign_SECRETKEYBYTES || !crypto_init()) return {};
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       reinterpret_cast<const unsigned char*>(secret_key.data()));
  return sig;
}

bool verify_detached(std::string_view public_key, std::string_view message,
                     std::string_view signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES ||
      !crypto_init())
    return false;
  return crypto_sign_verify_detached(
             reinterpret_cast<const unsigned char*>(signature.data()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
             reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

std::string key_fingerprint(std::string_view public_key) {
  return "SHA256:" + sha256_hex(public_key).substr(0, 32);
}

}  // namespace scope::auth
