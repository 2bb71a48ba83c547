import Glibc

/// The process's descriptor limit (RLIMIT_NOFILE).
package enum ResourceLimits {
    /// Wraps getrlimit(2) and setrlimit(2): raises the soft descriptor limit to the hard one, which children
    /// inherit. Returns the soft limit in force afterwards. The usual soft default (1024) is far below what the
    /// connection caps allow; the hard limit is what the operator granted.
    @discardableResult
    package static func raiseDescriptorLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }

    /// The soft descriptor limit in force (getrlimit(2)); 0 if it cannot be read.
    package static func descriptorLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        return UInt64(limit.rlim_cur)
    }
}
