import Foundation
import Glibc

/// Writes `text` to DIRECTORY/NAME as an executable script (a fake or wrapped worker, a wrapper around livefeed) and
/// returns its path.
@discardableResult
func writeExecutableScript(_ text: String, named name: String, in directory: String) throws -> String {
    let path = "\(directory)/\(name)"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
    return path
}
