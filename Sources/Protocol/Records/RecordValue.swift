/// One field value in a record: records carry integers and strings only.
package enum RecordValue: Equatable, Sendable {
    case int(Int64)
    case string(String)

    package var intValue: Int64? { if case .int(let v) = self { v } else { nil } }
    package var stringValue: String? { if case .string(let v) = self { v } else { nil } }
}
