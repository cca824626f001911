// /api/v1/auth/* (register, login, refresh, logout, me, invites, keys/rotate), /api/v1/users and
// /api/v1/audit on a router.
#pragma once

#include "auth/accounts.h"
#include "http/router.h"

namespace scope::auth {

void add_auth_routes(http::Router& router, Accounts& accounts);

nlohmann::json user_json(const User& u);

}  // namespace scope::auth
