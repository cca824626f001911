# `cmake --install` and a Debian package (cpack -G DEB): the scope binary, the systemd units, the
# nginx configuration and the Grafana/compose files of deploy/, and the docs. The web UI and the
# Swagger UI are inside the binary.
include(GNUInstallDirs)
install(TARGETS scope RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS scope_cupti LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/scope)
# Units go where Debian's systemd looks for packaged ones, whatever the prefix.
install(FILES deploy/systemd/scope-agent.service deploy/systemd/scope-server@.service
              deploy/systemd/scope-up.service
        DESTINATION lib/systemd/system)
install(FILES deploy/nginx/scope.conf DESTINATION ${CMAKE_INSTALL_DATADIR}/scope/nginx)
install(FILES deploy/docker-compose.yml DESTINATION ${CMAKE_INSTALL_DATADIR}/scope)
install(DIRECTORY deploy/grafana DESTINATION ${CMAKE_INSTALL_DATADIR}/scope)
install(FILES README.md docs/api/openapi.json DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME scope)
set(CPACK_PACKAGE_VENDOR "scope")
set(CPACK_PACKAGE_CONTACT "scope maintainers <scope@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "eBPF observability for GPU and LLM inference hosts (CUDA, llama.cpp, host events)")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
# The shared libraries' packages, found by dpkg-shlibdeps from what the binary links.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nginx, postgresql, redis-server")
set(CPACK_STRIP_FILES ON)
include(CPack)
