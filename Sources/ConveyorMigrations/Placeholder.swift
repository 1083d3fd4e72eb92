public enum ConveyorMigrationsVersion {}
