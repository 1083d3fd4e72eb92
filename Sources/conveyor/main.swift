import ConveyorCLI

await ConveyorCLI.main()
