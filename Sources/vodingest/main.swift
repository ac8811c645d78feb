import VODIngestCLI

await VODIngestCommand.runMain()
