import CSystemd

/// sd_notify(3) to the service manager when NOTIFY_SOCKET is set; a no-op otherwise.
enum Notify {
    static func send(_ state: String) {
        _ = sd_notify(0, state)
    }
}
