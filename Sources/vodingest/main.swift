import VODIngestCLI

VODIngestCommand.runMain()
