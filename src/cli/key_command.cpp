// natpunch key: shows (and with --create, makes) the device key file and its public key — the
// value an operator puts in the server's authorized keys or a peer pins.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "identity/key_store.h"

namespace natpunch::cli {

namespace {
struct KeyOptions {
  std::string path;
  bool create = false;
  bool json = false;
};

int run_key(const KeyOptions& o) {
  auto path = o.path.empty() ? default_key_path() : o.path;
  auto loaded = load_key_file(path, o.create);
  if (!loaded) return report_failure(o.json, loaded.error(), kExitFailed, {{"key_file", path}});
  auto pub = to_hex(loaded->key.public_key());
  if (o.json) {
    std::cout
        << json_text({{"ok", true}, {"key_file", path}, {"public_key", pub}, {"created", loaded->created}})
        << std::endl;
  } else {
    std::cout << (loaded->created ? "created " : "") << path << "\npublic key " << pub << "\n";
  }
  return kExitOk;
}
}  // namespace

Runner add_key_command(CLI::App& app) {
  auto o = std::make_shared<KeyOptions>();
  auto* cmd = app.add_subcommand("key", "Show this device's identity key (Ed25519), creating it with --create");
  cmd->add_option("--key-file", o->path,
                  "Key file (default: $NATPUNCH_KEY_DIR/device.key, $XDG_CONFIG_HOME/natpunch/device.key or "
                  "~/.config/natpunch/device.key)");
  cmd->add_flag("--create", o->create, "Create the key file (mode 0600) when it does not exist; never overwrites");
  cmd->add_flag("--json", o->json, "Print one JSON object: {\"ok\",\"key_file\",\"public_key\",\"created\"}");
  cmd->footer(
      "Exit status: 0 shown, 1 missing / unreadable / malformed / readable by others, 2 usage error.\n"
      "Example:\n  natpunch key --key-file /var/lib/natpunch/device.key --create --json");
  return [o] { return run_key(*o); };
}

}  // namespace natpunch::cli
