# livefeed: build and install. `make install` builds a release and installs the binaries, the page scripts
# (static/ and htmx), the systemd units, the journal catalog and the operator docs; see docs/operations.md.
#
#   make install [PREFIX=/usr/local] [DESTDIR=/staging] [NOTIFY_RELOAD=auto|yes|no]
#   make install-files BUILD=.build/debug PREFIX=/tmp/root   # install already-built binaries (no build)
#   make uninstall [PREFIX=...]
#
# Units go to $(PREFIX)/lib/systemd/system and the catalog to $(PREFIX)/lib/systemd/catalog, both on systemd's
# search paths for PREFIX=/usr/local and /usr. ExecStart= and Documentation= are rewritten for PREFIX.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
CATALOGDIR ?= $(PREFIX)/lib/systemd/catalog
DOCDIR ?= $(PREFIX)/share/doc/livefeed
DATADIR ?= $(PREFIX)/share/livefeed
SWIFT ?= swift
# Extra flags for swift build, e.g. --scratch-path (then set BUILD to its release folder).
SWIFT_BUILD_FLAGS ?=
BUILD ?= .build/release
# Installed binaries are stripped (72 MB -> 58 MB each with the static Swift runtime); STRIP= keeps symbols.
STRIP ?= -s
# The Type=notify-reload drop-in needs systemd 253 or later on the machine that runs livefeed. auto asks this
# machine's systemctl only when installing onto it (no DESTDIR); a staged install (DESTDIR=…, a package built
# elsewhere) cannot know the target's systemd and installs without it: Type=notify with ExecReload= works on every
# version. Packagers for 253+ pass NOTIFY_RELOAD=yes.
NOTIFY_RELOAD ?= auto
# Debian packages holding the shared libraries the binaries load (checked by `make install-files`).
RUNTIME_PACKAGES = libsqlite3-0 libsystemd0

SYSTEMD_VERSION := $(shell systemctl --version 2>/dev/null | awk 'NR == 1 { print $$2 + 0 }')
ifeq ($(NOTIFY_RELOAD),auto)
  ifeq ($(DESTDIR),)
    NOTIFY_RELOAD := $(shell [ "$(SYSTEMD_VERSION)" -ge 253 ] 2>/dev/null && echo yes || echo no)
  else
    NOTIFY_RELOAD := no
  endif
endif

# Rewrites the paths in units and drop-ins for this PREFIX.
SUBSTITUTE = sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/share/livefeed/|$(DATADIR)/|g' \
	-e 's|file:/usr/local/share/doc/livefeed/|file:$(DOCDIR)/|g'

.PHONY: all build install install-files uninstall

all: build

# The Swift runtime and Foundation are linked in, so the installed binaries need only libc, libsqlite3 and
# libsystemd, not the toolchain they were built with.
build:
	scripts/fetch-htmx || echo "make: no htmx; installed pages will not update live" >&2
	$(SWIFT) build -c release --static-swift-stdlib $(SWIFT_BUILD_FLAGS) --product livefeed
	$(SWIFT) build -c release --static-swift-stdlib $(SWIFT_BUILD_FLAGS) --product livefeed-worker

install: build install-files
	@echo "Installed. Next: systemctl daemon-reload; journalctl --update-catalog;"
	@echo "      systemctl enable --now livefeed.socket   (see $(DOCDIR)/operations.md)"

install-files:
	test -x $(BUILD)/livefeed -a -x $(BUILD)/livefeed-worker
	@# The binaries carry the Swift runtime; what they still load must be on the machine that runs them.
	@missing=$$(ldd $(BUILD)/livefeed $(BUILD)/livefeed-worker 2>/dev/null | awk '/not found/ { print $$1 }' | sort -u); \
	if [ -n "$$missing" ] && [ -z "$(DESTDIR)" ]; then \
		echo "make: missing shared libraries: $$missing" >&2; \
		echo "make: install them first: apt-get install $(RUNTIME_PACKAGES)" >&2; exit 1; \
	fi; \
	if [ -n "$(DESTDIR)" ]; then \
		echo "make: the target machine needs these packages at run time: $(RUNTIME_PACKAGES) (apt-get install $(RUNTIME_PACKAGES))"; \
	fi
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(UNITDIR)/livefeed.service.d \
		$(DESTDIR)$(CATALOGDIR) $(DESTDIR)$(DOCDIR)/dropins $(DESTDIR)$(DATADIR)/static $(DESTDIR)$(DATADIR)/htmx
	install -m 0755 $(STRIP) $(BUILD)/livefeed $(BUILD)/livefeed-worker $(DESTDIR)$(BINDIR)/
	install -m 0644 static/* $(DESTDIR)$(DATADIR)/static/
	if [ -f vendor/htmx/htmx.min.js ]; then install -m 0644 vendor/htmx/* $(DESTDIR)$(DATADIR)/htmx/; \
	else echo "make: vendor/htmx is missing (scripts/fetch-htmx); pages will not update live" >&2; fi
	for unit in livefeed.service livefeed.socket livefeed-metrics.socket; do \
		$(SUBSTITUTE) systemd/$$unit > $(DESTDIR)$(UNITDIR)/$$unit && chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit || exit 1; \
	done
	for dropin in systemd/dropins/*.conf; do \
		$(SUBSTITUTE) $$dropin > $(DESTDIR)$(DOCDIR)/dropins/$${dropin##*/} || exit 1; \
	done
	install -d $(DESTDIR)$(DOCDIR)/scale-out
	$(SUBSTITUTE) systemd/scale-out/livefeed-litestream.service > $(DESTDIR)$(DOCDIR)/scale-out/livefeed-litestream.service
	install -m 0644 docs/scale-out.md $(DESTDIR)$(DOCDIR)/scale-out.md
	if [ "$(NOTIFY_RELOAD)" = yes ]; then \
		install -m 0644 $(DESTDIR)$(DOCDIR)/dropins/notify-reload.conf $(DESTDIR)$(UNITDIR)/livefeed.service.d/; \
	else \
		rm -f $(DESTDIR)$(UNITDIR)/livefeed.service.d/notify-reload.conf; \
	fi
	install -m 0644 systemd/livefeed.catalog $(DESTDIR)$(CATALOGDIR)/livefeed.catalog
	install -m 0644 docs/operations.md $(DESTDIR)$(DOCDIR)/operations.md

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/livefeed $(DESTDIR)$(BINDIR)/livefeed-worker
	rm -f $(DESTDIR)$(UNITDIR)/livefeed.service $(DESTDIR)$(UNITDIR)/livefeed.socket \
		$(DESTDIR)$(UNITDIR)/livefeed-metrics.socket $(DESTDIR)$(UNITDIR)/livefeed.service.d/notify-reload.conf
	-rmdir $(DESTDIR)$(UNITDIR)/livefeed.service.d
	rm -f $(DESTDIR)$(CATALOGDIR)/livefeed.catalog
	rm -rf $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR)
