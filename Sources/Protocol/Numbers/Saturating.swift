/// Arithmetic for numbers this process did not write (database rows, client input, records, flags): it clamps at
/// the bounds instead of trapping, so a hostile value can distort a figure but never end the process.
extension Int64 {
    /// `self + other`, clamped to `Int64.min...Int64.max`.
    package func saturatingAdd(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self * other`, clamped to `Int64.min...Int64.max`.
    package func saturatingMultiply(_ other: Int64) -> Int64 {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? ((self < 0) == (other < 0) ? .max : .min) : product
    }

    /// The nearest `Int64` to `value` (towards zero), with NaN as 0 and out-of-range values at the bounds, where
    /// `Int64(value)` would trap.
    package init(clamping value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9_223_372_036_854_775_807.0 {
            self = .max
        } else if value <= -9_223_372_036_854_775_808.0 {
            self = .min
        } else {
            self = Int64(value)
        }
    }
}

extension Sequence where Element == Int64 {
    /// The sum, clamped at the bounds of `Int64` rather than trapping.
    package func saturatingSum() -> Int64 { reduce(0) { $0.saturatingAdd($1) } }
}
