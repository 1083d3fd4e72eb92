public enum ConveyorQueueVersion { public static let string = "0.1.0" }
