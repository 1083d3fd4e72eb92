import ConveyorPlatform

enum ProcessFactsBridge {
    static func residentBytes() -> Int { ProcessFacts.residentKilobytes() * 1024 }
}
