public enum ConveyorCLIPlaceholder {}
