"""Backups: database and media, compressed, optionally GPG-encrypted, with a signed manifest.

create.backup_create writes one; restore.backup_restore checks one completely before it touches
anything; drill.drill_run restores the newest into a scratch database; retention.retention_apply
prunes old ones.
"""
