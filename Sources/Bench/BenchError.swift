/// Why a bench run stopped before it could report. Measured failures (gaps, duplicates) are not errors: they
/// are results, printed in the report.
enum BenchError: Error, CustomStringConvertible {
    case setup(String)
    case server(String)
    case interrupted

    var description: String {
        switch self {
        case .setup(let s): "setup failed: \(s)"
        case .server(let s): "server failed: \(s)"
        case .interrupted: "interrupted"
        }
    }
}
