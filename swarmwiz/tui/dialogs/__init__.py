"""Modal dialogs: confirmations (ModalScreen[bool]), errors, typed-name confirmation."""
