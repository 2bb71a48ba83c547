/// What the dashboard's data depends on: the database's state (other connections' commits and this worker's own
/// writes), the minute (the chart's window moves) and the epoch.
struct DashboardKey: Equatable {
    var dataVersion: Int64
    var ownWrites: Int64
    var minute: Int64
    var epoch: String
}
