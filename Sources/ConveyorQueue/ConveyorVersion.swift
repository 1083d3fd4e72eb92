/// The version `conveyor --version` prints and heartbeats report.
public enum ConveyorVersion {
    public static let string = "0.1.0"
}
