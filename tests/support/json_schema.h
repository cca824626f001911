// The part of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that docs/api/openapi.json uses:
// $ref (local), type (one or a list), required, properties, items, enum, const, minimum,
// maximum. Enough to hold real answers to the document; not a general validator.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace scope::testsupport {

inline bool json_is_type(const nlohmann::json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  return false;
}

// What in `v` does not match `schema` ("" path for the root); empty when it matches.
inline std::vector<std::string> schema_errors(const nlohmann::json& v, const nlohmann::json& schema,
                                              const nlohmann::json& doc,
                                              const std::string& at = "$") {
  std::vector<std::string> errors;
  if (auto ref = schema.find("$ref"); ref != schema.end()) {
    std::string pointer = ref->get<std::string>();
    if (pointer.rfind("#/", 0) != 0 ||
        !doc.contains(nlohmann::json::json_pointer(pointer.substr(1))))
      return {at + ": unresolved " + pointer};
    return schema_errors(v, doc.at(nlohmann::json::json_pointer(pointer.substr(1))), doc, at);
  }
  if (auto t = schema.find("type"); t != schema.end()) {
    bool ok = false;
    if (t->is_string()) ok = json_is_type(v, t->get<std::string>());
    for (const auto& one : t->is_array() ? *t : nlohmann::json::array())
      ok = ok || json_is_type(v, one.get<std::string>());
    if (!ok) return {at + ": " + v.dump().substr(0, 80) + " is not of type " + t->dump()};
  }
  if (auto c = schema.find("const"); c != schema.end() && v != *c)
    errors.push_back(at + ": " + v.dump() + " is not " + c->dump());
  if (auto e = schema.find("enum"); e != schema.end()) {
    bool found = false;
    for (const auto& x : *e) found = found || v == x;
    if (!found) errors.push_back(at + ": " + v.dump() + " is not one of " + e->dump());
  }
  if (v.is_number()) {
    if (auto m = schema.find("minimum"); m != schema.end() && v.get<double>() < m->get<double>())
      errors.push_back(at + ": below " + m->dump());
    if (auto m = schema.find("maximum"); m != schema.end() && v.get<double>() > m->get<double>())
      errors.push_back(at + ": above " + m->dump());
  }
  if (v.is_object()) {
    for (const auto& name : schema.value("required", nlohmann::json::array()))
      if (!v.contains(name.get<std::string>()))
        errors.push_back(at + ": no required field " + name.dump());
    if (auto props = schema.find("properties"); props != schema.end())
      for (const auto& [name, sub] : props->items())
        if (v.contains(name))
          for (auto& e : schema_errors(v.at(name), sub, doc, at + "." + name))
            errors.push_back(std::move(e));
  }
  if (v.is_array())
    if (auto items = schema.find("items"); items != schema.end())
      for (size_t i = 0; i < v.size(); ++i)
        for (auto& e : schema_errors(v[i], *items, doc, at + "[" + std::to_string(i) + "]"))
          errors.push_back(std::move(e));
  return errors;
}

}  // namespace scope::testsupport
