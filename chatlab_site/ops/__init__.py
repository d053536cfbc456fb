"""Operations: backups, their schedule and retention, and the restore drill."""
